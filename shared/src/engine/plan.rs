//! Where every value of a lowered graph lives in one arena, decided once at load.
//!
//! A value occupies its slot from the step that writes it to the last step that reads it;
//! values whose lifetimes overlap get disjoint slots, so a step never writes over what it
//! reads. Slots are placed first-fit in creation order, which keeps the arena close to the
//! largest set of simultaneously live values.

use alloc::vec;
use alloc::vec::Vec;

use super::graph::Graph;

/// Slot offsets are multiples of this many elements (64 bytes of f32), for aligned loads.
const ALIGN: usize = 16;

/// The arena layout of a graph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Offset of each value's slot, in elements.
    pub offsets: Vec<usize>,
    /// Elements the arena must hold.
    pub arena_elements: usize,
}

impl Plan {
    /// Places every value of `graph`.
    pub fn new(graph: &Graph) -> Plan {
        let n = graph.values.len();
        let end_of_run = graph.steps.len();
        // Lifetime of each value in step indices: [first, last].
        let mut first = vec![0usize; n];
        let mut last = vec![0usize; n];
        for (i, step) in graph.steps.iter().enumerate() {
            first[step.output] = i;
            last[step.output] = last[step.output].max(i);
            for &v in &step.inputs {
                last[v] = last[v].max(i);
            }
        }
        last[graph.output] = end_of_run;
        let mut offsets = vec![0usize; n];
        let mut placed: Vec<usize> = Vec::with_capacity(n);
        let mut arena_elements = 0;
        for v in 0..n {
            let len = graph.elements(v);
            let mut busy: Vec<(usize, usize)> = placed
                .iter()
                .filter(|&&u| first[u] <= last[v] && first[v] <= last[u])
                .map(|&u| (offsets[u], offsets[u] + graph.elements(u)))
                .collect();
            busy.sort_unstable();
            let mut offset = 0;
            for (start, end) in busy {
                if offset + len <= start {
                    break;
                }
                offset = offset.max(end.div_ceil(ALIGN) * ALIGN);
            }
            offsets[v] = offset;
            arena_elements = arena_elements.max(offset + len);
            placed.push(v);
        }
        Plan {
            offsets,
            arena_elements: arena_elements.div_ceil(ALIGN) * ALIGN,
        }
    }

    /// The element range of value `v`.
    pub fn range(&self, graph: &Graph, v: usize) -> core::ops::Range<usize> {
        self.offsets[v]..self.offsets[v] + graph.elements(v)
    }
}
