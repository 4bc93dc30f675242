use super::*;

#[test]
fn a_picture_written_reads_back_as_the_same_cell() {
    let dir = tempfile::tempdir().unwrap();
    let images = CellImages::new(dir.path(), "slide-1");
    let mut cell = RgbImage::filled(64, 48, [200, 180, 220]);
    for y in 16..32 {
        for x in 20..44 {
            cell.put(x, y, [60, 20, 110]);
        }
    }
    images.write(7, &cell).unwrap();
    assert_eq!(images.path(7), dir.path().join("slide-1/cell-0007.jpg"));
    let decoded = image::load_from_memory(&images.read(7).unwrap())
        .unwrap()
        .to_rgb8();
    assert_eq!(decoded.dimensions(), (64, 48));
    // JPEG is lossy: the nucleus stays dark and the background light.
    assert!(decoded.get_pixel(32, 24)[0] < 100);
    assert!(decoded.get_pixel(4, 4)[0] > 160);
    assert!(images.read(8).is_err());
    // No temporary file is left behind.
    assert_eq!(fs::read_dir(dir.path().join("slide-1")).unwrap().count(), 1);
}

#[test]
fn the_writer_writes_every_queued_picture_before_it_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let images = CellImages::new(dir.path(), "s");
    let mut writer = CellImageWriter::start(images.clone());
    for id in 0..(QUEUE as u32 * 3) {
        writer.write(id, RgbImage::filled(32, 32, [id as u8, 0, 0]));
    }
    assert_eq!(writer.finish(), 0);
    for id in 0..(QUEUE as u32 * 3) {
        assert!(images.read(id).is_ok(), "cell {id}");
    }
    // A folder that cannot be made (a file stands in its way): every picture is counted
    // as failed, none is lost silently.
    fs::write(dir.path().join("blocked"), b"").unwrap();
    let mut writer = CellImageWriter::start(CellImages::new(dir.path(), "blocked"));
    writer.write(0, RgbImage::filled(8, 8, [0; 3]));
    writer.write(1, RgbImage::filled(8, 8, [0; 3]));
    assert_eq!(writer.finish(), 2);
}
