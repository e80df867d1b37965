//! A compiled graph: the kept passes in order, what each waits for, and its DOT dump.

use std::fmt::Write as _;

use crate::builder::PassDecl;
use crate::compile::Why;
use crate::frames::Plan;
use crate::resource::{Kind, ResourceDecl};

/// A compiled frame graph: checked, culled and ordered once, run every frame by
/// [`Frames`](crate::Frames). Made by [`GraphBuilder::compile`](crate::GraphBuilder::compile).
pub struct Graph {
    pub(crate) id: u32,
    /// The names of the graph's own flags.
    #[allow(dead_code)]
    pub(crate) flags: Vec<String>,
    pub(crate) resources: Vec<ResourceDecl>,
    /// Every declared pass, in declaration order.
    pub(crate) passes: Vec<PassDecl>,
    /// The kept passes (indices into `passes`) in the order they are started each frame.
    pub(crate) kept: Vec<usize>,
    /// What each kept pass waits for (positions in `kept`).
    pub(crate) plan: Plan,
    /// The reduced edges among kept passes (indices into `passes`), with why they exist.
    pub(crate) edges: Vec<(usize, usize, Vec<Why>)>,
}

impl Graph {
    /// The names of the kept passes, in the order they are started each frame.
    pub fn order(&self) -> Vec<&str> {
        self.kept
            .iter()
            .map(|&p| self.passes[p].name.as_str())
            .collect()
    }

    /// The names of the culled passes: their output reaches nothing kept.
    pub fn culled(&self) -> Vec<&str> {
        (0..self.passes.len())
            .filter(|p| !self.kept.contains(p))
            .map(|p| self.passes[p].name.as_str())
            .collect()
    }

    /// The passes `pass` waits for within a frame (only those no other path implies), or
    /// `None` if no kept pass has that name.
    pub fn dependencies(&self, pass: &str) -> Option<Vec<&str>> {
        let position = self.position(pass)?;
        Some(
            self.plan.passes[position]
                .before
                .iter()
                .map(|&q| self.name_at(q as usize))
                .collect(),
        )
    }

    /// The passes of the previous frame that `pass` waits for when frames overlap (itself,
    /// and the passes it conflicts with on resources shared between frames), or `None` if no
    /// kept pass has that name.
    pub fn previous_frame_dependencies(&self, pass: &str) -> Option<Vec<&str>> {
        let position = self.position(pass)?;
        Some(
            self.plan.passes[position]
                .previous_frame
                .iter()
                .map(|&q| self.name_at(q as usize))
                .collect(),
        )
    }

    pub(crate) fn position(&self, pass: &str) -> Option<usize> {
        self.kept.iter().position(|&p| self.passes[p].name == pass)
    }

    pub(crate) fn name_at(&self, position: usize) -> &str {
        &self.passes[self.kept[position]].name
    }

    /// The graph in Graphviz DOT: kept passes as boxes (labelled with their priority, and
    /// `times` if given, one entry per kept pass), culled passes dashed, edges labelled with
    /// the resources that make them. `dot -Tsvg graph.dot > graph.svg` draws it.
    ///
    /// ```
    /// let mut graph = frame::GraphBuilder::new();
    /// let x = graph.import("x", 0u32);
    /// graph.pass("write x", x.write(), |x, _| *x += 1);
    /// graph.pass("read x", x.read(), |_, _| {}).side_effect();
    /// let dot = graph.compile()?.to_dot();
    /// assert!(dot.contains("\"write x\" -> \"read x\" [label=\"x\"]"));
    /// # Ok::<(), frame::GraphError>(())
    /// ```
    pub fn to_dot(&self) -> String {
        self.dot_with(None)
    }

    /// [`to_dot`](Self::to_dot) with a line of timing per kept pass.
    pub(crate) fn dot_with(&self, times: Option<&[String]>) -> String {
        let mut out = String::from("digraph frame {\n  rankdir=LR;\n  node [shape=box];\n");
        for (p, pass) in self.passes.iter().enumerate() {
            let mut label = escape(&pass.name);
            let _ = write!(label, "\\n{:?}", pass.priority);
            match pass.thread {
                Some(thread) if thread == jobs::PinnedThread::MAIN => {
                    label.push_str(", main thread")
                }
                Some(_) => label.push_str(", pinned thread"),
                None => {}
            }
            match self.kept.iter().position(|&k| k == p) {
                Some(position) => {
                    if let Some(times) = times {
                        let _ = write!(label, "\\n{}", escape(&times[position]));
                    }
                    let _ = writeln!(out, "  \"{}\" [label=\"{label}\"];", escape(&pass.name));
                }
                None => {
                    let _ = writeln!(
                        out,
                        "  \"{}\" [label=\"{label}\\nculled\", style=dashed, color=gray];",
                        escape(&pass.name)
                    );
                }
            }
        }
        for (from, to, why) in &self.edges {
            let resources: Vec<&str> = why
                .iter()
                .filter_map(|w| match w {
                    Why::Resource(r) => Some(self.resources[*r as usize].name.as_str()),
                    Why::Explicit => None,
                })
                .collect();
            let _ = write!(
                out,
                "  \"{}\" -> \"{}\"",
                escape(&self.passes[*from].name),
                escape(&self.passes[*to].name)
            );
            if !resources.is_empty() {
                let _ = write!(out, " [label=\"{}\"]", escape(&resources.join(", ")));
            } else if why.is_empty() {
                out.push_str(" [style=dotted]");
            }
            out.push_str(";\n");
        }
        out.push_str("}\n");
        out
    }

    pub(crate) fn kind(&self, resource: u32) -> Kind {
        self.resources[resource as usize].kind
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}
