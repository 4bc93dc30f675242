//! The scalar reference against hand-computed values, and every SIMD kernel against the
//! scalar reference, byte for byte: one test per instruction set (`per_isa!`), which says
//! so when this CPU lacks it.

extern crate std;

use alloc::vec;
use alloc::vec::Vec;

use proptest::collection::vec as pvec;
use proptest::prelude::*;

use super::per_isa::per_isa;
use super::*;
use crate::params::Requant;

/// A small deterministic generator for the fixed-shape tests (xorshift64*).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn bytes(&mut self, len: usize) -> Vec<i8> {
        (0..len).map(|_| self.next() as i8).collect()
    }
}

/// `gemm_i8` with weights packed for `isa` and right-sized scratch.
fn gemm(isa: Isa, a: &[i8], rows: usize, k: usize, b: &[i8], n: usize, s: &OutputStage) -> Vec<i8> {
    let w = PackedMatrix::new(a, rows, k, isa);
    assert_eq!(w.isa(), isa);
    let mut out = vec![0; rows * n];
    // Scratch filled with junk: the kernels must not depend on its contents.
    let mut scratch = vec![0x5a; gemm_scratch_len(isa, k, n)];
    gemm_i8(&w, b, n, s, &mut out, &mut scratch);
    out
}

fn depthwise(
    isa: Isa,
    shape: &DepthwiseShape,
    input: &[i8],
    pad: i8,
    w: &[i8],
    s: &OutputStage,
) -> Vec<i8> {
    let mut out = vec![0; shape.channels * shape.out_height() * shape.out_width()];
    depthwise_i8(isa, shape, input, pad, w, s, &mut out);
    out
}

const IDENTITY: Requant = Requant {
    multiplier: 1 << 30,
    shift: 30,
};

#[test]
fn isa_list_starts_with_scalar_and_detect_is_the_best() {
    let all = Isa::available();
    assert_eq!(all[0], Isa::Scalar);
    assert_eq!(Isa::detect(), *all.last().unwrap());
    assert!(all.iter().all(|isa| isa.is_available()));
    let names: Vec<_> = [Isa::Scalar, Isa::Avx2, Isa::Avx512Vnni, Isa::NeonDot]
        .iter()
        .map(|isa| isa.name())
        .collect();
    assert_eq!(names, ["scalar", "avx2", "avx512-vnni", "neon-dot"]);
}

/// Which kernels this CPU exercises, for CI's log: `cargo test --workspace --release --
/// --exact engine::kernels::tests::isa_report --nocapture`.
#[test]
fn isa_report() {
    let all = [Isa::Scalar, Isa::Avx2, Isa::Avx512Vnni, Isa::NeonDot];
    let names = |available: bool| {
        let picked: Vec<&str> = all
            .iter()
            .filter(|isa| isa.is_available() == available)
            .map(|isa| isa.name())
            .collect();
        picked.join(", ")
    };
    let missing = names(false);
    let not = if missing.is_empty() {
        std::string::String::new()
    } else {
        std::format!(" (not: {missing})")
    };
    std::println!("kernels exercised on this CPU: {}{not}", names(true));
}

#[test]
fn an_unavailable_isa_packs_for_scalar() {
    let missing = [Isa::Avx2, Isa::Avx512Vnni, Isa::NeonDot]
        .into_iter()
        .find(|isa| !isa.is_available());
    if let Some(isa) = missing {
        let w = PackedMatrix::new(&[1, 2, 3, 4], 2, 2, isa);
        assert_eq!(w.isa(), Isa::Scalar);
        assert_eq!((w.rows(), w.cols()), (2, 2));
    }
}

#[test]
fn scalar_gemm_by_hand() {
    // [1 2 3; -4 5 -6] * [1 -1; 2 0; -3 4] = [-4 11; 24 -20].
    let a = [1, 2, 3, -4, 5, -6];
    let b = [1, -1, 2, 0, -3, 4];
    let bias = [10, -1];
    // Row 0: (acc + 10) / 2, rounded half up; row 1: (acc - 1) * 1.
    let requant = [
        Requant {
            multiplier: 1,
            shift: 1,
        },
        Requant {
            multiplier: 2,
            shift: 1,
        },
    ];
    let stage = OutputStage {
        bias: &bias,
        requant: &requant,
        zero_point: 3,
        min: -128,
        max: 20,
    };
    // Row 0: (6 / 2) + 3 = 6, (21 / 2 = 10.5 -> 11) + 3 = 14.
    // Row 1: 23 + 3 = 26 -> clamped to 20, -21 + 3 = -18.
    assert_eq!(gemm(Isa::Scalar, &a, 2, 3, &b, 2, &stage), [6, 14, 20, -18]);
}

#[test]
// The zeros in the expected sums spell out the padded taps.
#[allow(clippy::identity_op)]
fn scalar_depthwise_by_hand_with_padding() {
    // One channel, 3x3 input, 3x3 kernel, padding 1, stride 1: 3x3 output.
    let input = [1, 2, 3, 4, 5, 6, 7, 8, 9];
    let weights = [0, 1, 0, 1, -1, 1, 0, 2, 0];
    let shape = DepthwiseShape {
        channels: 1,
        height: 3,
        width: 3,
        kernel: [3, 3],
        stride: [1, 1],
        padding: [1, 1],
        dilation: [1, 1],
    };
    assert_eq!((shape.out_height(), shape.out_width()), (3, 3));
    let stage = OutputStage {
        bias: &[0],
        requant: &[IDENTITY],
        zero_point: 0,
        min: -128,
        max: 127,
    };
    // Out(y, x) = up + left - centre + right + 2 * down, padding reads `pad`.
    let pad = 0;
    let expect_zero = [
        0 + 0 - 1 + 2 + 2 * 4, // (0,0): up pad, left pad
        0 + 1 - 2 + 3 + 2 * 5,
        0 + 2 - 3 + 0 + 2 * 6,
        1 + 0 - 4 + 5 + 2 * 7,
        2 + 4 - 5 + 6 + 2 * 8,
        3 + 5 - 6 + 0 + 2 * 9,
        4 + 0 - 7 + 8 + 0,
        5 + 7 - 8 + 9 + 0,
        6 + 8 - 9 + 0 + 0,
    ];
    assert_eq!(
        depthwise(Isa::Scalar, &shape, &input, pad, &weights, &stage),
        expect_zero.map(|v: i32| v as i8)
    );
    // With pad = -2 (a zero point of -2), every padded tap adds -2 * its weight.
    let out = depthwise(Isa::Scalar, &shape, &input, -2, &weights, &stage);
    assert_eq!(out[0], (expect_zero[0] - 2 - 2) as i8); // up (1) and left (1) padded
    assert_eq!(out[4], expect_zero[4] as i8);
    assert_eq!(out[8], (expect_zero[8] - 2 - 2 * 2) as i8); // right (1) and down (2)
    // Stride 2 keeps the corners.
    let s2 = DepthwiseShape {
        stride: [2, 2],
        ..shape
    };
    assert_eq!((s2.out_height(), s2.out_width()), (2, 2));
    let out = depthwise(Isa::Scalar, &s2, &input, pad, &weights, &stage);
    assert_eq!(
        out,
        [
            expect_zero[0],
            expect_zero[2],
            expect_zero[6],
            expect_zero[8]
        ]
        .map(|v| v as i8)
    );
}

per_isa! {
    scalar too;
    fn gemm_handles_empty_dimensions(isa) {
        let requant = [IDENTITY; 3];
        let bias = [5, -7, 300];
        let stage = OutputStage {
            bias: &bias,
            requant: &requant,
            zero_point: 1,
            min: -128,
            max: 127,
        };
        // K = 0: every output is the output stage of the bias alone.
        assert_eq!(
            gemm(isa, &[], 3, 0, &[], 2, &stage),
            [6, 6, -6, -6, 127, 127]
        );
        // No columns, no rows.
        assert!(gemm(isa, &[1, 2, 3], 3, 1, &[], 0, &stage).is_empty());
        let none = OutputStage {
            bias: &[],
            requant: &[],
            ..stage
        };
        assert!(gemm(isa, &[], 0, 4, &[0; 8], 2, &none).is_empty());
    }
}

#[test]
fn output_shapes() {
    let shape = |size, kernel, stride, padding, dilation| DepthwiseShape {
        channels: 1,
        height: size,
        width: size,
        kernel: [kernel; 2],
        stride: [stride; 2],
        padding: [padding; 2],
        dilation: [dilation; 2],
    };
    assert_eq!(shape(112, 3, 2, 1, 1).out_height(), 56);
    assert_eq!(shape(7, 3, 1, 1, 1).out_width(), 7);
    assert_eq!(shape(7, 3, 1, 0, 2).out_width(), 3);
    assert_eq!(shape(2, 5, 1, 1, 1).out_width(), 0);
    assert_eq!(shape(5, 3, 0, 1, 1).out_width(), 0);
}

#[test]
fn apply_rounds_half_up() {
    let half = Requant {
        multiplier: 1,
        shift: 1,
    };
    // x / 2 rounded half up (towards +infinity on ties), negatives included.
    let cases = [
        (0, 0),
        (1, 1),
        (2, 1),
        (3, 2),
        (-1, 0),
        (-2, -1),
        (-3, -1),
        (-4, -2),
        (-5, -2),
    ];
    for (acc, want) in cases {
        assert_eq!(half.apply(acc), want, "{acc} / 2");
    }
    let quarter = Requant {
        multiplier: 3,
        shift: 2,
    };
    // 3x / 4: -2 * 3 / 4 = -1.5 -> -1; -3 * 3 / 4 = -2.25 -> -2; 5 * 3 / 4 = 3.75 -> 4.
    assert_eq!(quarter.apply(-2), -1);
    assert_eq!(quarter.apply(-3), -2);
    assert_eq!(quarter.apply(5), 4);
    // The extremes of the engine's range do not overflow.
    let big = Requant {
        multiplier: i32::MIN,
        shift: 1,
    };
    assert_eq!(big.apply(i32::MIN), 1 << 61);
    let tiny = Requant {
        multiplier: i32::MAX,
        shift: 62,
    };
    assert_eq!(tiny.apply(i32::MAX), 1);
    assert_eq!(tiny.apply(i32::MIN), -1);
    // Outside it: shift 0 is the product, large shifts round exactly.
    let none = Requant {
        multiplier: -7,
        shift: 0,
    };
    assert_eq!(none.apply(3), -21);
    let s63 = Requant {
        multiplier: i32::MIN,
        shift: 63,
    };
    assert_eq!(s63.apply(i32::MIN), 1); // exactly 1/2, rounded up
    assert_eq!(s63.apply(i32::MAX), 0);
    let s200 = Requant {
        multiplier: i32::MIN,
        shift: 200,
    };
    assert_eq!(s200.apply(i32::MIN), 0);
}

#[test]
fn from_real_round_trips() {
    let mut rng = Lcg(7);
    for _ in 0..10_000 {
        // Log-uniform over [1e-9, 1e9).
        let m = libm::pow(10.0, (rng.next() % 1_800_000) as f64 / 100_000.0 - 9.0);
        let q = Requant::from_real(m);
        assert!(
            (1u32 << 30..1u32 << 31).contains(&(q.multiplier as u32)),
            "{m}: {q:?}"
        );
        assert!((1..=62).contains(&q.shift), "{m}: {q:?}");
        assert!((q.to_real() - m).abs() <= 1e-9 * m, "{m}: {q:?}");
    }
    for (m, want) in [
        (1.0, (1 << 30, 30)),
        (0.5, (1 << 30, 31)),
        (0.75, (3 << 29, 31)),
        // Just below 2^30 rounds to 2^31 x 2^-1 and saturates.
        (f64::from(1u32 << 30) - 1e-7, (i32::MAX, 1)),
        (1e12, (i32::MAX, 1)),
        (0.0, (0, 1)),
        (-1.0, (0, 1)),
        (f64::NAN, (0, 1)),
        (1e-300, (0, 1)),
    ] {
        let q = Requant::from_real(m);
        assert_eq!((q.multiplier, q.shift), want, "{m}");
    }
    // Below 2^-32 precision goes, the shift stays 62.
    let q = Requant::from_real(1e-12);
    assert_eq!(q.shift, 62);
    assert!((q.to_real() - 1e-12).abs() <= 0.5 / libm::ldexp(1.0, 62));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn apply_matches_real_multiplication(m in 1e-6f64..100.0, frac in -1.0f64..1.0) {
        // Any accumulator whose scaled value stays within 2^30 (the output must fit).
        let reach = (libm::ldexp(1.0, 30) / m).min(f64::from(i32::MAX));
        let acc = (frac * reach) as i32;
        let q = Requant::from_real(m);
        let exact = libm::round(f64::from(acc) * m);
        prop_assert!((q.apply(acc) as f64 - exact).abs() <= 1.0, "{acc} * {m}: {} vs {exact}", q.apply(acc));
    }
}

fn requant_strategy() -> impl Strategy<Value = Requant> {
    prop_oneof![
        // Realistic: a normalized multiplier, scale between 2^-10 and 2^0.
        ((1i32 << 30)..i32::MAX, 30u8..=40)
            .prop_map(|(multiplier, shift)| Requant { multiplier, shift }),
        // Anything in the brief's range, negatives included.
        (any::<i32>(), 1u8..=40).prop_map(|(multiplier, shift)| Requant { multiplier, shift }),
        // The engine's whole range.
        (any::<i32>(), 1u8..=62).prop_map(|(multiplier, shift)| Requant { multiplier, shift }),
    ]
}

/// Zero point and clamp: mostly what the engine uses, sometimes anything.
fn clamp_strategy() -> impl Strategy<Value = (i32, i8, i8)> {
    prop_oneof![
        3 => (any::<i8>(), any::<i8>(), any::<i8>()).prop_map(|(z, a, b)| (i32::from(z), a.min(b), a.max(b))),
        1 => (any::<i32>(), any::<i8>(), any::<i8>()),
    ]
}

#[derive(Debug, Clone)]
struct GemmCase {
    rows: usize,
    k: usize,
    n: usize,
    a: Vec<i8>,
    b: Vec<i8>,
    bias: Vec<i32>,
    requant: Vec<Requant>,
    clamp: (i32, i8, i8),
}

/// Random shapes and data; `realistic` gives every row a normalized multiplier and a scale
/// below 1/2 (the kernels' fastest path, taken only when a whole tile qualifies).
fn gemm_case(
    rows: core::ops::Range<usize>,
    k: core::ops::Range<usize>,
    n: core::ops::Range<usize>,
    realistic: bool,
) -> impl Strategy<Value = GemmCase> {
    (rows, k, n).prop_flat_map(move |(rows, k, n)| {
        let requant = if realistic {
            ((1i32 << 30)..i32::MAX, 33u8..=45)
                .prop_map(|(multiplier, shift)| Requant { multiplier, shift })
                .boxed()
        } else {
            requant_strategy().boxed()
        };
        (
            pvec(any::<i8>(), rows * k),
            pvec(any::<i8>(), k * n),
            pvec(-(1i32 << 20)..(1 << 20), rows),
            pvec(requant, rows),
            clamp_strategy(),
        )
            .prop_map(move |(a, b, bias, requant, clamp)| GemmCase {
                rows,
                k,
                n,
                a,
                b,
                bias,
                requant,
                clamp,
            })
    })
}

fn check_gemm(case: &GemmCase, isa: Isa) -> Result<(), TestCaseError> {
    let (zero_point, min, max) = case.clamp;
    let stage = OutputStage {
        bias: &case.bias,
        requant: &case.requant,
        zero_point,
        min,
        max,
    };
    let want = gemm(
        Isa::Scalar,
        &case.a,
        case.rows,
        case.k,
        &case.b,
        case.n,
        &stage,
    );
    let got = gemm(isa, &case.a, case.rows, case.k, &case.b, case.n, &stage);
    prop_assert!(
        got == want,
        "{} differs from scalar on {}x{}x{}",
        isa.name(),
        case.rows,
        case.k,
        case.n
    );
    Ok(())
}

/// The property tests' cases per instruction set.
fn cases() -> ProptestConfig {
    ProptestConfig::with_cases(256)
}

per_isa! {
    fn gemm_matches_scalar(isa) {
        proptest!(cases(), |(case in gemm_case(1..70, 1..300, 1..100, false))| {
            check_gemm(&case, isa)?;
        });
    }
}

per_isa! {
    fn gemm_matches_scalar_on_tiny_shapes(isa) {
        proptest!(cases(), |(case in gemm_case(1..10, 1..10, 1..40, false))| {
            check_gemm(&case, isa)?;
        });
    }
}

per_isa! {
    fn gemm_matches_scalar_with_realistic_stages(isa) {
        proptest!(cases(), |(case in gemm_case(1..70, 1..300, 1..100, true))| {
            check_gemm(&case, isa)?;
        });
    }
}

per_isa! {
    /// Every accumulator, bias, multiplier, shift (the out-of-range ones included, which
    /// take the kernels' scalar path), zero point and clamp: with k = 1 and a bias anywhere
    /// in i32, `acc + bias` covers all of i32.
    fn output_stage_matches_scalar_at_the_extremes(isa) {
        proptest!(cases(), |(
            rows in 1usize..20,
            n in 1usize..40,
            seed in any::<u64>(),
            params in pvec((any::<i32>(), any::<i32>(), 0u8..=255, any::<bool>()), 20),
            extreme in prop_oneof![Just(i32::MIN), Just(i32::MAX), Just(1 << 30), Just(-(1 << 30)), any::<i32>()],
            clamp in prop_oneof![
                (any::<i32>(), any::<i8>(), any::<i8>()),
                (-200i32..200, any::<i8>(), any::<i8>()),
            ],
            all_high in any::<bool>(),
        )| {
            let mut rng = Lcg(seed | 1);
            let a = rng.bytes(rows);
            let b = rng.bytes(n);
            let bias: Vec<i32> = params.iter().take(rows).map(|p| p.0).collect();
            let requant: Vec<Requant> = params
                .iter()
                .take(rows)
                .map(|&(_, m, s, pick)| Requant {
                    multiplier: if pick { extreme } else { m },
                    // Mostly in the engine's range, where the vector paths run; sometimes all in
                    // the high-word range (whose fastest path needs a whole tile of it).
                    shift: match (all_high, s) {
                        (true, _) => 33 + s % 30,
                        (false, 0..200) => 1 + s % 62,
                        (false, _) => s,
                    },
                })
                .collect();
            let case = GemmCase { rows, k: 1, n, a, b, bias, requant, clamp };
            check_gemm(&case, isa)?;
        });
    }
}

#[derive(Debug, Clone)]
struct DepthwiseCase {
    shape: DepthwiseShape,
    input: Vec<i8>,
    pad: i8,
    weights: Vec<i8>,
    bias: Vec<i32>,
    requant: Vec<Requant>,
    clamp: (i32, i8, i8),
}

fn depthwise_case() -> impl Strategy<Value = DepthwiseCase> {
    (
        1usize..40,
        1usize..30,
        1usize..30,
        [1usize..6, 1..6],
        [1usize..4, 1..4],
        [0usize..3, 0..3],
        [1usize..3, 1..3],
    )
        .prop_filter("the window must fit", |&(_, h, w, k, _, p, d)| {
            (k[0] - 1) * d[0] < h + 2 * p[0] && (k[1] - 1) * d[1] < w + 2 * p[1]
        })
        .prop_flat_map(
            |(channels, height, width, kernel, stride, padding, dilation)| {
                let shape = DepthwiseShape {
                    channels,
                    height,
                    width,
                    kernel,
                    stride,
                    padding,
                    dilation,
                };
                (
                    pvec(any::<i8>(), channels * height * width),
                    any::<i8>(),
                    pvec(any::<i8>(), channels * kernel[0] * kernel[1]),
                    pvec(-(1i32 << 16)..(1 << 16), channels),
                    pvec(requant_strategy(), channels),
                    clamp_strategy(),
                )
                    .prop_map(
                        move |(input, pad, weights, bias, requant, clamp)| DepthwiseCase {
                            shape,
                            input,
                            pad,
                            weights,
                            bias,
                            requant,
                            clamp,
                        },
                    )
            },
        )
}

fn check_depthwise(case: &DepthwiseCase, isa: Isa) -> Result<(), TestCaseError> {
    let (zero_point, min, max) = case.clamp;
    let stage = OutputStage {
        bias: &case.bias,
        requant: &case.requant,
        zero_point,
        min,
        max,
    };
    let want = depthwise(
        Isa::Scalar,
        &case.shape,
        &case.input,
        case.pad,
        &case.weights,
        &stage,
    );
    let got = depthwise(
        isa,
        &case.shape,
        &case.input,
        case.pad,
        &case.weights,
        &stage,
    );
    prop_assert!(
        got == want,
        "{} differs from scalar on {:?}",
        isa.name(),
        case.shape
    );
    Ok(())
}

per_isa! {
    fn depthwise_matches_scalar(isa) {
        proptest!(cases(), |(case in depthwise_case())| {
            check_depthwise(&case, isa)?;
        });
    }
}

/// A random case of a fixed shape, with realistic output stages.
fn fixed_stage(rng: &mut Lcg, rows: usize) -> (Vec<i32>, Vec<Requant>) {
    let bias = (0..rows)
        .map(|_| (rng.next() % 20_001) as i32 - 10_000)
        .collect();
    let requant = (0..rows)
        .map(|_| Requant::from_real(1.0 / (200.0 + (rng.next() % 2000) as f64)))
        .collect();
    (bias, requant)
}

per_isa! {
    /// The edge-s GEMM shapes (and one wider than any of them) against scalar.
    fn gemm_matches_scalar_on_edge_s_shapes(isa) {
        let mut rng = Lcg(11);
        for (rows, k, n) in [
            (16, 27, 12544),
            (96, 16, 3136),
            (24, 96, 3136),
            (96, 576, 196),
            (160, 960, 49),
            (512, 160, 49),
            (4, 1280, 1),
            (3, 5000, 33),
        ] {
            let a = rng.bytes(rows * k);
            let b = rng.bytes(k * n);
            let (bias, requant) = fixed_stage(&mut rng, rows);
            let stage = OutputStage {
                bias: &bias,
                requant: &requant,
                zero_point: -5,
                min: -128,
                max: 127,
            };
            let want = gemm(Isa::Scalar, &a, rows, k, &b, n, &stage);
            assert!(
                gemm(isa, &a, rows, k, &b, n, &stage) == want,
                "{} differs on {rows}x{k}x{n}",
                isa.name()
            );
        }
    }
}

per_isa! {
    /// The edge-s depthwise shapes, rows wider than one chunk of the padded-row ring, and a
    /// kernel too wide for it (the scalar fallback), against scalar.
    fn depthwise_matches_scalar_on_wide_and_edge_s_shapes(isa) {
        let mut rng = Lcg(13);
        let dw =
            |channels, height, width, kernel: usize, stride: usize, padding: usize, dilation: usize| {
                DepthwiseShape {
                    channels,
                    height,
                    width,
                    kernel: [kernel; 2],
                    stride: [stride; 2],
                    padding: [padding; 2],
                    dilation: [dilation; 2],
                }
            };
        for shape in [
            dw(16, 112, 112, 3, 1, 1, 1),
            dw(64, 112, 112, 3, 2, 1, 1),
            dw(144, 56, 56, 3, 1, 1, 1),
            dw(576, 14, 14, 3, 2, 1, 1),
            dw(960, 7, 7, 3, 1, 1, 1),
            dw(2, 5, 2100, 3, 1, 1, 1),
            dw(2, 5, 2100, 5, 2, 2, 2),
            dw(2, 9, 1500, 7, 3, 3, 1),
            DepthwiseShape {
                kernel: [1, 300],
                padding: [0, 100],
                ..dw(2, 3, 400, 1, 1, 0, 1)
            },
        ] {
            let [kh, kw] = shape.kernel;
            let input = rng.bytes(shape.channels * shape.height * shape.width);
            let weights = rng.bytes(shape.channels * kh * kw);
            let (bias, requant) = fixed_stage(&mut rng, shape.channels);
            let stage = OutputStage {
                bias: &bias,
                requant: &requant,
                zero_point: 3,
                min: -20,
                max: 100,
            };
            let want = depthwise(Isa::Scalar, &shape, &input, 7, &weights, &stage);
            assert!(
                depthwise(isa, &shape, &input, 7, &weights, &stage) == want,
                "{} differs on {shape:?}",
                isa.name()
            );
        }
    }
}

/// Throughput of every ISA on edge-s shapes: `cargo test -p leukoscope-core --release --lib
/// engine::kernels::tests::speed -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check"]
fn speed() {
    use std::println;
    use std::time::Instant;
    let mut rng = Lcg(17);
    // The fastest of many calls: the machine may be shared, and interference only slows.
    let time = |f: &mut dyn FnMut(), macs: f64| {
        f();
        let start = Instant::now();
        let mut best = f64::INFINITY;
        while start.elapsed().as_secs_f64() < 0.5 {
            let t = Instant::now();
            f();
            best = best.min(t.elapsed().as_secs_f64());
        }
        macs / best / 1e9
    };
    for (rows, k, n) in [
        (96, 576, 196),
        (32, 16, 12544),
        (96, 16, 12544),
        (16, 27, 12544),
        (24, 96, 3136),
        (576, 96, 196),
        (160, 960, 49),
    ] {
        let a = rng.bytes(rows * k);
        let b = rng.bytes(k * n);
        let (bias, requant) = fixed_stage(&mut rng, rows);
        let stage = OutputStage {
            bias: &bias,
            requant: &requant,
            zero_point: 0,
            min: -128,
            max: 127,
        };
        let mut line = std::format!("gemm {rows:>4} x {k:>4} x {n:>5}:");
        for isa in Isa::available() {
            let w = PackedMatrix::new(&a, rows, k, isa);
            let mut out = vec![0; rows * n];
            let mut scratch = vec![0; gemm_scratch_len(isa, k, n)];
            let g = time(
                &mut || gemm_i8(&w, &b, n, &stage, &mut out, &mut scratch),
                (rows * k * n) as f64,
            );
            line += &std::format!("  {} {g:6.1}", isa.name());
        }
        println!("{line} GMAC/s");
    }
    for (channels, size, stride) in [
        (96, 112, 2),
        (144, 56, 1),
        (192, 28, 1),
        (384, 14, 1),
        (576, 14, 2),
        (960, 7, 1),
    ] {
        let shape = DepthwiseShape {
            channels,
            height: size,
            width: size,
            kernel: [3, 3],
            stride: [stride; 2],
            padding: [1, 1],
            dilation: [1, 1],
        };
        let input = rng.bytes(channels * size * size);
        let weights = rng.bytes(channels * 9);
        let (bias, requant) = fixed_stage(&mut rng, channels);
        let stage = OutputStage {
            bias: &bias,
            requant: &requant,
            zero_point: 0,
            min: -128,
            max: 127,
        };
        let outputs = channels * shape.out_height() * shape.out_width();
        let mut line = std::format!("depthwise {channels:>4} x {size:>3}^2 s{stride}:");
        for isa in Isa::available() {
            let mut out = vec![0; outputs];
            let g = time(
                &mut || depthwise_i8(isa, &shape, &input, 0, &weights, &stage, &mut out),
                (outputs * 9) as f64,
            );
            line += &std::format!("  {} {g:6.1}", isa.name());
        }
        println!("{line} GMAC/s");
    }
    edge_s_total(&time, &mut rng);
}

/// Time of all the convolutions of edge-s (224x224 input), one image, one thread: the stem
/// as an im2col GEMM, then per inverted residual block the expansion GEMM, the 3x3
/// depthwise and the projection GEMM, then the last pointwise and the classifier.
fn edge_s_total(time: &dyn Fn(&mut dyn FnMut(), f64) -> f64, rng: &mut Lcg) {
    use std::println;
    enum Layer {
        Gemm(usize, usize, usize),
        Depthwise(usize, usize, usize),
    }
    use Layer::{Depthwise as D, Gemm as G};
    let mut layers = vec![G(16, 27, 112 * 112), D(16, 112, 1), G(16, 16, 112 * 112)];
    let mut channels = 16;
    let mut size = 112;
    for (expand, out, repeats, first_stride) in [
        (4, 24, 2, 2),
        (4, 32, 3, 2),
        (4, 64, 3, 2),
        (4, 96, 2, 1),
        (6, 160, 2, 2),
    ] {
        for i in 0..repeats {
            let stride = if i == 0 { first_stride } else { 1 };
            let hidden = channels * expand;
            layers.push(G(hidden, channels, size * size));
            layers.push(D(hidden, size, stride));
            size /= stride;
            layers.push(G(out, hidden, size * size));
            channels = out;
        }
    }
    layers.push(G(512, channels, size * size));
    layers.push(G(4, 512, 1));
    for isa in Isa::available() {
        let (mut seconds, mut macs, mut dw_seconds) = (0.0, 0.0, 0.0);
        let best = isa == Isa::detect();
        for layer in &layers {
            let before = seconds;
            match *layer {
                G(rows, k, n) => {
                    let a = rng.bytes(rows * k);
                    let b = rng.bytes(k * n);
                    let (bias, requant) = fixed_stage(rng, rows);
                    let stage = OutputStage {
                        bias: &bias,
                        requant: &requant,
                        zero_point: -3,
                        min: -3,
                        max: 127,
                    };
                    let w = PackedMatrix::new(&a, rows, k, isa);
                    let mut out = vec![0; rows * n];
                    let mut scratch = vec![0; gemm_scratch_len(isa, k, n)];
                    let work = (rows * k * n) as f64;
                    seconds +=
                        work / time(
                            &mut || gemm_i8(&w, &b, n, &stage, &mut out, &mut scratch),
                            work,
                        ) / 1e9;
                    macs += work;
                }
                D(channels, size, stride) => {
                    let shape = DepthwiseShape {
                        channels,
                        height: size,
                        width: size,
                        kernel: [3, 3],
                        stride: [stride; 2],
                        padding: [1, 1],
                        dilation: [1, 1],
                    };
                    let input = rng.bytes(channels * size * size);
                    let weights = rng.bytes(channels * 9);
                    let (bias, requant) = fixed_stage(rng, channels);
                    let stage = OutputStage {
                        bias: &bias,
                        requant: &requant,
                        zero_point: -3,
                        min: -3,
                        max: 127,
                    };
                    let mut out = vec![0; channels * shape.out_height() * shape.out_width()];
                    let work = (out.len() * 9) as f64;
                    let s =
                        work / time(
                            &mut || {
                                depthwise_i8(isa, &shape, &input, -3, &weights, &stage, &mut out)
                            },
                            work,
                        ) / 1e9;
                    seconds += s;
                    dw_seconds += s;
                    macs += work;
                }
            }
            if best {
                let (what, work) = match *layer {
                    G(rows, k, n) => (std::format!("gemm {rows} x {k} x {n}"), rows * k * n),
                    D(c, size, stride) => {
                        let out = size / stride;
                        (
                            std::format!("depthwise {c} x {size}^2 s{stride}"),
                            c * out * out * 9,
                        )
                    }
                };
                let t = seconds - before;
                println!(
                    "  {what:<28} {:7.1} us {:6.1} GMAC/s",
                    t * 1e6,
                    work as f64 / t / 1e9
                );
            }
        }
        println!(
            "edge-s convolutions, {}: {:.0} MMAC in {:.2} ms ({:.2} ms depthwise), {:.1} GMAC/s",
            isa.name(),
            macs / 1e6,
            seconds * 1e3,
            dw_seconds * 1e3,
            macs / seconds / 1e9
        );
    }
}
