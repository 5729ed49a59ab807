//! Planning a check: every crash state the chosen models allow, built in memory,
//! with states a reader cannot tell apart (same files, same acknowledgements)
//! checked once, and a cap that keeps whole families before it samples one.

use crate::fsstate::FsState;
use crate::model::{self, Choice, CrashState, Model};
use crate::trace::{Op, Trace};
use std::collections::HashMap;

/// What to plan.
#[derive(Clone, Debug)]
pub struct PlanOptions {
    pub models: Vec<Model>,
    pub max_states: usize,
    pub random: usize,
    pub seed: u64,
}

/// The states to check, and how many were left out and why.
#[derive(Debug, Default)]
pub struct Plan {
    pub crash_points: usize,
    /// States the models allow (before removing duplicates).
    pub candidates: usize,
    /// Candidates identical to an earlier one (same visible files, same acknowledgements).
    pub duplicates: usize,
    /// Distinct states left out by `--max-states`.
    pub capped: usize,
    pub states: Vec<CrashState>,
    /// For each state, every model that allows it (a state is judged once).
    pub models: Vec<Vec<Model>>,
}

/// Rebuilds states from the snapshot, reusing the longest prefix of ops every
/// state at a crash point shares (ops before the first pending one are never dropped).
pub struct Replayer<'a> {
    trace: &'a Trace,
    start: FsState,
    base: FsState,
    upto: usize,
}

impl<'a> Replayer<'a> {
    pub fn new(trace: &'a Trace) -> Replayer<'a> {
        let start = FsState::from_snapshot(&trace.snapshot);
        Replayer {
            trace,
            base: start.clone(),
            start,
            upto: 0,
        }
    }

    /// The disk in crash state `s`.
    pub fn build(&mut self, s: &CrashState) -> FsState {
        let first = s
            .dropped
            .first()
            .copied()
            .into_iter()
            .chain(s.torn.iter().map(|t| t.0))
            .min()
            .unwrap_or(s.crash);
        if first < self.upto {
            self.base = self.start.clone();
            self.upto = 0;
        }
        for t in &self.trace.ops[self.upto..first] {
            self.base.apply(&t.op, None);
        }
        self.upto = first;
        let mut st = self.base.clone();
        for i in first..s.crash {
            if s.dropped.binary_search(&i).is_ok() {
                continue;
            }
            let mask = s.torn.iter().find(|t| t.0 == i).map(|t| t.1.as_slice());
            st.apply(&self.trace.ops[i].op, mask);
        }
        st
    }
}

fn priority(c: Choice) -> usize {
    match c {
        Choice::All | Choice::None => 0,
        Choice::Omit | Choice::Torn | Choice::Prefix => 1,
        Choice::Random => 2,
    }
}

/// Plans the check of `trace`.
pub fn plan(trace: &Trace, opts: &PlanOptions) -> Plan {
    let points = model::crash_points(trace);
    let mut plan = Plan {
        crash_points: points.len(),
        ..Plan::default()
    };
    let printed: Vec<usize> = {
        let mut acc = 0;
        let mut v = vec![0];
        for t in &trace.ops {
            if let Op::Print { text } = &t.op {
                acc += text.len();
            }
            v.push(acc);
        }
        v
    };
    let mut seen: HashMap<(u64, usize), (usize, usize)> = HashMap::new();
    let mut families: [Vec<(CrashState, Vec<Model>)>; 3] = Default::default();
    for &m in &opts.models {
        let cover = model::cover(trace, m);
        let mut rep = Replayer::new(trace);
        for &k in &points {
            for s in model::states_at(trace, m, &cover, k, opts.random, opts.seed) {
                plan.candidates += 1;
                let key = (rep.build(&s).digest(), printed[k]);
                if let Some(&(f, j)) = seen.get(&key) {
                    plan.duplicates += 1;
                    let models = &mut families[f][j].1;
                    if !models.contains(&m) {
                        models.push(m);
                    }
                } else {
                    let f = priority(s.choice);
                    seen.insert(key, (f, families[f].len()));
                    families[f].push((s, vec![m]));
                }
            }
        }
    }
    let mut room = opts.max_states;
    for family in families {
        if family.len() <= room {
            room -= family.len();
            for (s, m) in family {
                plan.states.push(s);
                plan.models.push(m);
            }
        } else {
            // Sample evenly over crash points so the whole run is covered.
            let take = room;
            plan.capped += family.len() - take;
            for j in 0..take {
                let (s, m) = family[j * family.len() / take].clone();
                plan.states.push(s);
                plan.models.push(m);
            }
            room = 0;
        }
    }
    plan
}
