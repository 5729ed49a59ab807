//! Properties of the persistence models and of the state builder, on random traces:
//! a model never loses an op a barrier made durable, ext4's durable set contains the
//! conservative one's, and the incremental builder gives exactly what replaying the
//! kept ops from the snapshot gives, whatever order states are built in.

use crashfs::fsstate::FsState;
use crashfs::model::{self, Model};
use crashfs::plan::Replayer;
use crashfs::trace::{Op, Trace};
use proptest::prelude::*;

fn op() -> impl Strategy<Value = Op> {
    let name = prop::sample::select(vec!["a", "b", "d/c"]);
    prop_oneof![
        (name.clone(), 1u64..4).prop_map(|(p, ino)| Op::Create {
            path: p.into(),
            ino
        }),
        Just(Op::Mkdir { path: "d".into() }),
        (name.clone(), name.clone(), 1u64..4).prop_map(|(f, t, ino)| Op::Rename {
            from: f.into(),
            to: t.into(),
            ino
        }),
        (name, 1u64..4).prop_map(|(p, ino)| Op::Unlink {
            path: p.into(),
            ino
        }),
        (1u64..4, 0u64..2000, 1usize..1500, any::<u8>()).prop_map(|(ino, offset, len, b)| {
            Op::Write {
                ino,
                offset,
                data: vec![b; len],
            }
        }),
        (1u64..4, 0u64..3000).prop_map(|(ino, len)| Op::SetLen { ino, len }),
        (1u64..4).prop_map(|ino| Op::FileSync { ino }),
        prop::sample::select(vec!["", "d"]).prop_map(|p| Op::DirSync { path: p.into() }),
        Just(Op::SyncAll),
        Just(Op::Print {
            text: b"ack\n".to_vec()
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn models_drop_only_pending_ops_and_ext4_is_no_weaker(ops in prop::collection::vec(op(), 1..40), seed in any::<u64>()) {
        let t = Trace::from_ops(ops);
        let cons = model::cover(&t, Model::Conservative);
        let ext4 = model::cover(&t, Model::Ext4Ordered);
        for k in model::crash_points(&t) {
            let pc = model::pending(&t, &cons, k);
            let pe = model::pending(&t, &ext4, k);
            prop_assert!(pe.iter().all(|i| pc.contains(i)), "ext4 pending {pe:?} ⊄ conservative {pc:?} at {k}");
            for (m, pend) in [(Model::Conservative, &pc), (Model::Ext4Ordered, &pe)] {
                let cover = if m == Model::Conservative { &cons } else { &ext4 };
                for s in model::states_at(&t, m, cover, k, 3, seed) {
                    prop_assert!(s.dropped.iter().all(|i| pend.contains(i)), "{m:?} at {k} drops a durable op: {:?} not in {pend:?}", s.dropped);
                    prop_assert!(s.torn.iter().all(|(i, _)| pend.contains(i)));
                }
            }
        }
    }

    #[test]
    fn the_incremental_builder_equals_a_plain_replay(ops in prop::collection::vec(op(), 1..40), seed in any::<u64>(), order in any::<u64>()) {
        let t = Trace::from_ops(ops);
        let mut states = Vec::new();
        for m in [Model::Conservative, Model::Ext4Ordered] {
            let cover = model::cover(&t, m);
            for k in model::crash_points(&t) {
                states.extend(model::states_at(&t, m, &cover, k, 2, seed));
            }
        }
        // Build them in a scrambled order: the builder must reset when it has to.
        let n = states.len();
        let mut rep = Replayer::new(&t);
        for j in 0..n {
            let s = &states[((j as u64).wrapping_mul(7919).wrapping_add(order) % n as u64) as usize];
            let mut plain = FsState::from_snapshot(&t.snapshot);
            for (i, top) in t.ops[..s.crash].iter().enumerate() {
                if s.dropped.contains(&i) {
                    continue;
                }
                let mask = s.torn.iter().find(|x| x.0 == i).map(|x| x.1.as_slice());
                plain.apply(&top.op, mask);
            }
            prop_assert_eq!(rep.build(s).visible(), plain.visible());
        }
    }
}
