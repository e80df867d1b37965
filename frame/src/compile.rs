//! Compiling a graph: from declared accesses and orderings to the order the passes run in.
//!
//! 1. Edges. Explicit orderings (`before`/`after`) are edges, and so are those of a carried
//!    resource's `carry` pass, before every other pass reading or writing that resource's
//!    current copy. For each resource, every pass that reads it runs after every pass that
//!    writes it, unless the reader is explicitly ordered before that writer (then it reads the
//!    value from before the write).
//! 2. Checks. A cycle, two writers of one resource that no path orders, or a read of a
//!    transient resource that no earlier pass writes, is an error naming the passes and the
//!    resource.
//! 3. Culling. Passes with a side effect and passes that write an imported or per-frame resource
//!    are kept, and so is every pass that writes a transient resource a kept pass uses before
//!    it. The rest is culled: its output reaches nothing kept.
//! 4. Reduction. The kept passes keep only the edges no other path implies, so that a pass
//!    waits for as few passes as possible.
//! 5. Frames in flight. A pass of frame N+1 waits for the passes of frame N it conflicts with:
//!    itself (its state is its own), the passes that touch an imported resource it touches when
//!    either writes, and the writers of a per-frame resource whose previous copy it reads.
//!    Again only those no other path implies.
//!
//! All of it is done once; running a frame only follows the lists made here.

use std::collections::HashMap;

use crate::access::Mode;
use crate::builder::GraphBuilder;
use crate::error::GraphError;
use crate::flag::Flag;
use crate::frames::{Deps, Plan};
use crate::resource::Kind;
use crate::Graph;

/// A fixed-size set of pass indices.
#[derive(Clone)]
pub(crate) struct BitSet(Vec<u64>);

impl BitSet {
    pub(crate) fn new(n: usize) -> Self {
        BitSet(vec![0; n.div_ceil(64)])
    }
    pub(crate) fn insert(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    pub(crate) fn contains(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }
    fn union_with(&mut self, other: &BitSet) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a |= b;
        }
    }
    fn difference_with(&mut self, other: &BitSet) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a &= !b;
        }
    }
    fn intersect_with(&mut self, other: &BitSet) {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a &= b;
        }
    }
    pub(crate) fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &bits)| {
            (0..64)
                .filter(move |b| bits & (1 << b) != 0)
                .map(move |b| w * 64 + b)
        })
    }
}

/// Why an edge exists (for errors and the DOT dump).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Why {
    Explicit,
    Resource(u32),
}

pub(crate) fn compile(builder: GraphBuilder) -> Result<Graph, GraphError> {
    let GraphBuilder {
        id,
        resources,
        passes,
        flags,
        foreign_order,
    } = builder;
    let n = passes.len();
    let name = |p: usize| passes[p].name.clone();
    let resource_name = |r: u32| resources[r as usize].name.clone();
    if foreign_order {
        return Err(GraphError::ForeignPass {
            pass: "(two passes of other builders, given to `order`)".to_owned(),
        });
    }
    if flags.len() > Flag::MAX {
        return Err(GraphError::TooManyFlags { flags: flags.len() });
    }
    for (p, pass) in passes.iter().enumerate() {
        if pass.run_if.iter().any(|flag| !flag.belongs_to(id)) {
            return Err(GraphError::ForeignFlag { pass: name(p) });
        }
    }

    // Names.
    let mut by_name = HashMap::new();
    for (i, pass) in passes.iter().enumerate() {
        if by_name.insert(pass.name.as_str(), i).is_some() {
            return Err(GraphError::DuplicatePass { pass: name(i) });
        }
    }

    // Accesses.
    let mut writers: Vec<Vec<usize>> = vec![Vec::new(); resources.len()];
    let mut readers: Vec<Vec<usize>> = vec![Vec::new(); resources.len()];
    let mut previous_readers: Vec<Vec<usize>> = vec![Vec::new(); resources.len()];
    for (p, pass) in passes.iter().enumerate() {
        for (k, access) in pass.accesses.iter().enumerate() {
            if access.graph != id {
                return Err(GraphError::ForeignResource { pass: name(p) });
            }
            let r = access.id as usize;
            let twice = pass.accesses[..k].iter().any(|other| {
                other.id == access.id
                    && (other.mode == access.mode
                        || (other.mode != Mode::ReadPrevious && access.mode != Mode::ReadPrevious))
            });
            if twice {
                return Err(GraphError::DuplicateAccess {
                    pass: name(p),
                    resource: resource_name(access.id),
                });
            }
            match access.mode {
                Mode::Read => readers[r].push(p),
                Mode::Write => writers[r].push(p),
                Mode::ReadPrevious => {
                    if !resources[r].kind.is_per_frame() {
                        return Err(GraphError::NotPerFrame {
                            pass: name(p),
                            resource: resource_name(access.id),
                        });
                    }
                    previous_readers[r].push(p);
                }
            }
        }
    }

    // Edges: explicit first (and the carry passes'), then from the resources.
    let mut edges: Vec<Vec<(usize, Why)>> = vec![Vec::new(); n];
    for (p, pass) in passes.iter().enumerate() {
        for (others, forward) in [(&pass.before, true), (&pass.after, false)] {
            for other in others {
                if other.graph != id || other.index as usize >= n {
                    return Err(GraphError::ForeignPass { pass: name(p) });
                }
                let q = other.index as usize;
                let (from, to) = if forward { (p, q) } else { (q, p) };
                edges[from].push((to, Why::Explicit));
            }
        }
        if let Some(r) = pass.carries {
            for q in readers[r as usize].iter().chain(&writers[r as usize]) {
                if *q != p {
                    edges[p].push((*q, Why::Resource(r)));
                }
            }
        }
    }
    let explicit_reach = reach_of(&edges);
    for r in 0..resources.len() {
        for &w in &writers[r] {
            for &rd in &readers[r] {
                if !explicit_reach[rd].contains(w) {
                    edges[w].push((rd, Why::Resource(r as u32)));
                }
            }
        }
    }

    // Order, or the cycle that prevents it.
    let order = topological_order(&edges).map_err(|cycle| {
        let resource = cycle.windows(2).find_map(|pair| {
            edges[pair[0]].iter().find_map(|&(to, why)| match why {
                Why::Resource(r) if to == pair[1] => Some(resource_name(r)),
                _ => None,
            })
        });
        GraphError::Cycle {
            passes: cycle.iter().map(|&p| name(p)).collect(),
            resource,
        }
    })?;
    let reach = reach_of(&edges);

    // Writers must be ordered; transient reads must have a writer before them.
    for r in 0..resources.len() {
        for (i, &a) in writers[r].iter().enumerate() {
            for &b in &writers[r][i + 1..] {
                if !reach[a].contains(b) && !reach[b].contains(a) {
                    return Err(GraphError::UnorderedWrites {
                        resource: resource_name(r as u32),
                        first: name(a),
                        second: name(b),
                    });
                }
            }
        }
        if resources[r].kind == Kind::Transient {
            for &rd in &readers[r] {
                if !writers[r].iter().any(|&w| reach[w].contains(rd)) {
                    return Err(GraphError::ReadWithoutWriter {
                        pass: name(rd),
                        resource: resource_name(r as u32),
                    });
                }
            }
        }
    }

    // Culling.
    let mut kept = BitSet::new(n);
    let mut stack: Vec<usize> = (0..n)
        .filter(|&p| {
            passes[p].side_effect
                || passes[p].accesses.iter().any(|a| {
                    a.mode == Mode::Write && resources[a.id as usize].kind != Kind::Transient
                })
        })
        .collect();
    for &p in &stack {
        kept.insert(p);
    }
    while let Some(p) = stack.pop() {
        for access in &passes[p].accesses {
            let r = access.id as usize;
            if resources[r].kind != Kind::Transient || access.mode == Mode::ReadPrevious {
                continue;
            }
            for &w in &writers[r] {
                if reach[w].contains(p) && !kept.contains(w) {
                    kept.insert(w);
                    stack.push(w);
                }
            }
        }
    }
    let kept_order: Vec<usize> = order
        .iter()
        .copied()
        .filter(|&p| kept.contains(p))
        .collect();
    let mut position = vec![u32::MAX; n];
    for (i, &p) in kept_order.iter().enumerate() {
        position[p] = i as u32;
    }

    // Reduction: the direct edges among kept passes that no other kept path implies.
    let mut before: Vec<Vec<u32>> = vec![Vec::new(); kept_order.len()];
    let kept_reach: Vec<BitSet> = reach
        .iter()
        .map(|r| {
            let mut r = r.clone();
            r.intersect_with(&kept);
            r
        })
        .collect();
    let mut reduced_edges = Vec::new();
    for &u in &kept_order {
        let mut implied = BitSet::new(n);
        for w in kept_reach[u].iter() {
            implied.union_with(&kept_reach[w]);
        }
        let mut direct = kept_reach[u].clone();
        direct.difference_with(&implied);
        for v in direct.iter() {
            before[position[v] as usize].push(position[u]);
            reduced_edges.push((u, v));
        }
    }
    for list in &mut before {
        list.sort_unstable();
    }

    // Frames in flight: what each kept pass waits for in the previous frame.
    let mut previous: Vec<BitSet> = vec![BitSet::new(n); n];
    for &b in &kept_order {
        previous[b].insert(b);
    }
    for r in 0..resources.len() {
        match resources[r].kind {
            Kind::Imported => {
                for &w in &writers[r] {
                    for &other in writers[r].iter().chain(&readers[r]) {
                        if kept.contains(w) && kept.contains(other) {
                            previous[other].insert(w);
                            previous[w].insert(other);
                        }
                    }
                }
            }
            Kind::Carried | Kind::Scratch => {
                for &w in &writers[r] {
                    for &rd in &previous_readers[r] {
                        if kept.contains(w) && kept.contains(rd) {
                            previous[rd].insert(w);
                        }
                    }
                }
            }
            Kind::Transient => {}
        }
    }
    let raw = previous.clone();
    for &b in &kept_order {
        let mut drop = BitSet::new(n);
        for a in raw[b].iter() {
            // a (frame N) -> c (frame N) -> b (frame N+1), or a (N) -> c (N+1) -> b (N+1).
            let via_earlier = raw[b].iter().any(|c| c != a && reach[a].contains(c));
            let via_later = kept_order
                .iter()
                .any(|&c| c != b && raw[c].contains(a) && reach[c].contains(b));
            if via_earlier || via_later {
                drop.insert(a);
            }
        }
        previous[b].difference_with(&drop);
    }

    let plan = Plan {
        passes: kept_order
            .iter()
            .map(|&p| Deps {
                before: before[position[p] as usize].clone(),
                previous_frame: previous[p].iter().map(|a| position[a]).collect(),
            })
            .collect(),
    };
    let why: HashMap<(usize, usize), Vec<Why>> =
        edges
            .iter()
            .enumerate()
            .fold(HashMap::new(), |mut map, (from, list)| {
                for &(to, why) in list {
                    map.entry((from, to)).or_insert_with(Vec::new).push(why);
                }
                map
            });
    Ok(Graph {
        id,
        flags,
        resources,
        passes,
        kept: kept_order,
        plan,
        edges: reduced_edges
            .into_iter()
            .map(|(u, v)| (u, v, why.get(&(u, v)).cloned().unwrap_or_default()))
            .collect(),
    })
}

/// For each pass, the passes after it (transitively).
fn reach_of(edges: &[Vec<(usize, Why)>]) -> Vec<BitSet> {
    let n = edges.len();
    let mut reach = vec![BitSet::new(n); n];
    // Iterate to a fixed point: the graph may not be acyclic yet (explicit edges only).
    for start in 0..n {
        let mut stack: Vec<usize> = edges[start].iter().map(|&(to, _)| to).collect();
        while let Some(p) = stack.pop() {
            if reach[start].contains(p) {
                continue;
            }
            reach[start].insert(p);
            stack.extend(edges[p].iter().map(|&(to, _)| to));
        }
    }
    reach
}

/// The passes in an order that respects every edge (declaration order among equals), or a
/// cycle (its passes in order, the first repeated last).
fn topological_order(edges: &[Vec<(usize, Why)>]) -> Result<Vec<usize>, Vec<usize>> {
    let n = edges.len();
    let mut incoming = vec![0usize; n];
    for list in edges {
        for &(to, _) in list {
            incoming[to] += 1;
        }
    }
    let mut ready: std::collections::BinaryHeap<std::cmp::Reverse<usize>> = (0..n)
        .filter(|&p| incoming[p] == 0)
        .map(std::cmp::Reverse)
        .collect();
    let mut order = Vec::with_capacity(n);
    while let Some(std::cmp::Reverse(p)) = ready.pop() {
        order.push(p);
        for &(to, _) in &edges[p] {
            incoming[to] -= 1;
            if incoming[to] == 0 {
                ready.push(std::cmp::Reverse(to));
            }
        }
    }
    if order.len() == n {
        return Ok(order);
    }
    // Every pass left has an incoming edge from another pass left: walk back until one repeats.
    let left: Vec<bool> = (0..n).map(|p| incoming[p] > 0).collect();
    let mut from = vec![usize::MAX; n];
    for (p, list) in edges.iter().enumerate() {
        if left[p] {
            for &(to, _) in list {
                if left[to] {
                    from[to] = p;
                }
            }
        }
    }
    let mut seen = vec![false; n];
    let mut p = (0..n).find(|&p| left[p]).expect("a pass is left");
    while !seen[p] {
        seen[p] = true;
        p = from[p];
    }
    let mut cycle = vec![p];
    let mut q = from[p];
    while q != p {
        cycle.push(q);
        q = from[q];
    }
    cycle.push(p);
    cycle.reverse();
    Err(cycle)
}
