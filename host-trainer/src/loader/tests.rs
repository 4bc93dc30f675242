use super::*;

struct Numbers {
    fail: usize,
}

impl SampleSource for Numbers {
    fn len(&self) -> usize {
        10
    }
    fn input_shape(&self) -> [usize; 3] {
        [1, 1, 2]
    }
    fn label(&self, index: usize) -> u32 {
        (index % 2) as u32
    }
    fn input(&self, index: usize, epoch: u64, seed: u64) -> Result<Vec<f32>, String> {
        if index == self.fail {
            return Err("gone".into());
        }
        Ok(vec![index as f32, (epoch * 100 + seed) as f32])
    }
}

#[test]
fn batches_arrive_in_order_with_failures_reported() {
    let source = Arc::new(Numbers { fail: 3 });
    let order: Vec<usize> = (0..10).collect();
    let batches: Vec<HostBatch> = Batches::start(source, order, 4, 2, 5, 2).collect();
    assert_eq!(batches.len(), 3);
    assert_eq!(batches[0].indices, vec![0, 1, 2]);
    assert_eq!(batches[0].failed, vec![(3, "gone".to_string())]);
    assert_eq!(batches[0].inputs, vec![0.0, 205.0, 1.0, 205.0, 2.0, 205.0]);
    assert_eq!(batches[2].indices, vec![8, 9]);
    assert_eq!(batches[2].labels, vec![0, 1]);
}

#[test]
fn stopping_early_does_not_hang() {
    let source = Arc::new(Numbers { fail: 99 });
    let mut batches = Batches::start(source, (0..10).collect(), 1, 0, 0, 1);
    assert!(batches.next().is_some());
    drop(batches);
}

#[test]
fn epoch_orders_are_repeatable_and_balanced() {
    let labels: Vec<u32> = (0..100).map(|i| if i < 90 { 0 } else { 1 }).collect();
    assert_eq!(
        epoch_order(&labels, &[], Order::Sequential, 1, 1),
        (0..100).collect::<Vec<_>>()
    );
    let a = epoch_order(&labels, &[], Order::Shuffled, 1, 1);
    assert_eq!(a, epoch_order(&labels, &[], Order::Shuffled, 1, 1));
    assert_ne!(a, epoch_order(&labels, &[], Order::Shuffled, 1, 2));
    let mut sorted = a.clone();
    sorted.sort();
    assert_eq!(sorted, (0..100).collect::<Vec<_>>());
    let draws = epoch_order(&labels, &[], Order::Balanced, 1, 1);
    let minority = draws.iter().filter(|&&i| labels[i] == 1).count();
    assert_eq!(draws.len(), 100);
    // 10 % of the samples, about half of the draws.
    assert!((35..=65).contains(&minority), "{minority}");
}

#[test]
fn balancing_by_source_draws_each_lab_of_a_class_equally_often() {
    // Class 0 from two labs, 900 cells and 100; class 1 from the first lab only, 1,000.
    let labels: Vec<u32> = [0; 1000].into_iter().chain([1; 1000]).collect();
    let sources: Vec<u32> = [0; 900]
        .into_iter()
        .chain([1; 100])
        .chain([0; 1000])
        .collect();
    let draws = epoch_order(&labels, &sources, Order::BalancedBySource, 3, 1);
    assert_eq!(draws.len(), 2000);
    let share = |keep: &dyn Fn(usize) -> bool| {
        draws.iter().filter(|&&i| keep(i)).count() as f64 / draws.len() as f64
    };
    // Half the draws per class, and class 0's half split between its labs.
    assert!((share(&|i| labels[i] == 1) - 0.5).abs() < 0.04);
    assert!((share(&|i| labels[i] == 0 && sources[i] == 1) - 0.25).abs() < 0.04);
    assert!((share(&|i| labels[i] == 0 && sources[i] == 0) - 0.25).abs() < 0.04);
    // Balancing classes alone keeps the small lab at its tenth of class 0.
    let by_class = epoch_order(&labels, &sources, Order::Balanced, 3, 1);
    let small = by_class.iter().filter(|&&i| sources[i] == 1).count() as f64;
    assert!((small / 2000.0 - 0.05).abs() < 0.02, "{small}");
    // One source, or none named: the same as balancing classes.
    assert_eq!(
        epoch_order(&labels, &[], Order::BalancedBySource, 3, 1),
        epoch_order(&labels, &[0; 2000], Order::BalancedBySource, 3, 1)
    );
}
