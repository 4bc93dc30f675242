use super::*;

#[test]
fn device_strings() {
    assert_eq!("cpu".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cpu);
    assert_eq!(
        "cuda".parse::<DeviceChoice>().unwrap(),
        DeviceChoice::Cuda(0)
    );
    assert_eq!(
        "CUDA:3".parse::<DeviceChoice>().unwrap(),
        DeviceChoice::Cuda(3)
    );
    assert!("cuda:x".parse::<DeviceChoice>().is_err());
    assert!("tpu".parse::<DeviceChoice>().is_err());
    assert_eq!(DeviceChoice::Cuda(2).to_string(), "cuda:2");
}
