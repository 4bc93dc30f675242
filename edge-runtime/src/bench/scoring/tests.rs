use super::*;

fn b(x0: f32, y0: f32, x1: f32, y1: f32) -> PixelBox {
    PixelBox { x0, y0, x1, y1 }
}

#[test]
fn a_box_file_is_read_by_frame_and_label() {
    let text = "image,x_min,y_min,x_max,y_max,label\n\
                a.jpg,1,2,30,40,WBC\n\
                a.jpg, 5 ,5,9,9,rbc\n\
                b.png,0,0,3,3,Platelets\n";
    let frames = read_boxes(text.as_bytes()).expect("a valid box file");
    assert_eq!(frames.len(), 2);
    assert_eq!(frames["a.jpg"].white, vec![b(1.0, 2.0, 30.0, 40.0)]);
    assert_eq!(frames["a.jpg"].red, vec![b(5.0, 5.0, 9.0, 9.0)]);
    assert_eq!(frames["b.png"].platelets.len(), 1);
}

#[test]
fn columns_may_come_in_any_order() {
    let text = "label,image,y_max,x_max,y_min,x_min\nWBC,a.jpg,40,30,2,1\n";
    let frames = read_boxes(text.as_bytes()).expect("a valid box file");
    assert_eq!(frames["a.jpg"].white, vec![b(1.0, 2.0, 30.0, 40.0)]);
}

#[test]
fn a_bad_box_file_names_its_row_and_fault() {
    let cases = [
        ("image,x_min,y_min,x_max,label\n", "no `y_max` column"),
        (
            "image,x_min,y_min,x_max,y_max,label\na,1,2,x,4,WBC\n",
            "row 2: `x` is not a coordinate",
        ),
        (
            "image,x_min,y_min,x_max,y_max,label\na,1,2,3,4,WBC\na,1,2,NaN,4,WBC\n",
            "row 3: `NaN` is not a coordinate",
        ),
        (
            "image,x_min,y_min,x_max,y_max,label\na,9,2,3,4,WBC\n",
            "ends before it starts",
        ),
        (
            "image,x_min,y_min,x_max,y_max,label\na,1,2,3,4,neutrophil\n",
            "row 2: unknown label `neutrophil`",
        ),
        ("image,x_min,y_min,x_max,y_max,label\na,1,2\n", "not CSV"),
    ];
    for (text, expected) in cases {
        let error = read_boxes(text.as_bytes()).expect_err(text).to_string();
        assert!(error.contains(expected), "{text:?} gave {error:?}");
    }
}

#[test]
fn a_long_value_is_cut_in_the_error() {
    let long = "z".repeat(5000);
    let text = format!("image,x_min,y_min,x_max,y_max,label\na,1,2,3,4,{long}\n");
    let error = read_boxes(text.as_bytes())
        .expect_err("unknown label")
        .to_string();
    assert!(error.len() < 200, "{} characters", error.len());
}

#[test]
fn a_lobed_cell_read_twice_costs_precision_not_recall() {
    let white = [b(0.0, 0.0, 50.0, 50.0), b(100.0, 100.0, 150.0, 150.0)];
    // Three lobes of the first cell, nothing in the second, one red cell outside both.
    let centres = [(10.0, 10.0), (25.0, 30.0), (40.0, 12.0), (300.0, 10.0)];
    let score = score_frame(&white, &centres);
    assert_eq!(
        score,
        DetectionScore {
            white_cells: 2,
            found: 1,
            detections: 4,
            twice: 2,
            outside: 1,
            drawn_twice: 0,
        }
    );
    assert_eq!(score.recall(), 0.5);
    assert_eq!(score.precision(), 0.25);
}

#[test]
fn a_detection_in_overlapping_boxes_goes_to_the_nearest_centre() {
    let white = [b(0.0, 0.0, 60.0, 60.0), b(40.0, 0.0, 100.0, 60.0)];
    let score = score_frame(&white, &[(30.0, 30.0), (70.0, 30.0)]);
    assert_eq!((score.found, score.twice, score.outside), (2, 0, 0));
}

#[test]
fn a_cell_boxed_twice_is_one_cell() {
    // As in the bcd boxes: a second box around the same cell, overlapping the first by
    // 0.74 of their union; a third box beside it, overlapping by a third, is a cell of
    // its own.
    let white = [
        b(0.0, 0.0, 100.0, 100.0),
        b(10.0, 10.0, 100.0, 92.0),
        b(50.0, 0.0, 150.0, 100.0),
    ];
    let score = score_frame(&white, &[(45.0, 50.0), (120.0, 50.0)]);
    assert_eq!(
        (
            score.white_cells,
            score.found,
            score.drawn_twice,
            score.twice
        ),
        (2, 2, 1, 0)
    );
    assert_eq!(score.recall(), 1.0);
}

#[test]
fn an_empty_frame_scores_one_and_totals_add_up() {
    let empty = score_frame(&[], &[]);
    assert_eq!((empty.recall(), empty.precision()), (1.0, 1.0));
    let mut total = empty;
    total.add(&score_frame(&[b(0.0, 0.0, 9.0, 9.0)], &[(5.0, 5.0)]));
    total.add(&score_frame(&[b(0.0, 0.0, 9.0, 9.0)], &[]));
    assert_eq!(
        (total.white_cells, total.found, total.detections),
        (2, 1, 1)
    );
}

#[test]
fn the_scale_comes_from_whole_round_red_cells_only() {
    let red = [
        b(10.0, 10.0, 85.0, 85.0),
        b(100.0, 10.0, 175.0, 85.0),
        b(200.0, 10.0, 275.0, 85.0),
        // Cut by the left edge, and two overlapping cells: left out.
        b(0.0, 100.0, 40.0, 175.0),
        b(100.0, 100.0, 250.0, 175.0),
    ];
    let diameters = whole_red_cell_diameters(&red, 400, 400);
    assert_eq!(diameters, vec![75.0; 3]);
    let scale = scale_from_diameters(&diameters).expect("three red cells");
    assert!((scale - 0.1).abs() < 1e-6, "{scale}");
    assert_eq!(scale_from_diameters(&diameters[..2]), None);
}
