//! Every operation status on the real filesystem (StdVfs in a temp dir), the advisory
//! lock between two engines, and time-based system-transaction initiation.

mod common;
use common::*;
use engine::clock::ManualClock;
use engine::vfs::StdVfs;
use engine::{Config, Engine, GetOp, OpenMode, Status, StepOp};
use std::sync::Arc;
use std::time::Duration;

fn st<T: std::fmt::Debug>(r: engine::Result<T>) -> Status {
    r.expect_err("expected a status").status
}

#[test]
fn every_operation_status_on_std_vfs() {
    let (mut e, dir) = std_engine();
    let path = dir.path().join("people.btr");
    assert_eq!(st(e.open(&path, OpenMode::Normal)), Status::FileNotFound);
    e.create(&path, &people_spec(1024)).unwrap();
    assert_eq!(
        st(e.create(&path, &people_spec(1024))),
        Status::FileAlreadyExists
    );
    let h = e.open(&path, OpenMode::Normal).unwrap();
    assert_eq!(st(e.get(h, GetOp::First, 0, &[])), Status::EndOfFile);
    assert_eq!(
        st(e.update(h, &person(1, 0, "a"))),
        Status::InvalidPositioning
    );
    assert_eq!(st(e.delete(h)), Status::InvalidPositioning);
    assert_eq!(
        st(e.get(h, GetOp::Next, 0, &[])),
        Status::InvalidPositioning
    );
    for (id, g, n) in [(1, 5, "ann"), (2, 5, "bob"), (3, -2, "cy"), (4, 5, "dee")] {
        e.insert(h, &person(id, g, n)).unwrap();
    }
    assert_eq!(
        st(e.insert(h, &person(1, 0, "new"))),
        Status::DuplicateKeyValue
    );
    assert_eq!(
        st(e.insert(h, &person(9, 0, "ann"))),
        Status::DuplicateKeyValue
    );
    assert_eq!(
        st(e.insert(h, &person(9, 0, "x")[..31])),
        Status::DataBufferTooShort
    );
    assert_eq!(
        st(e.get(h, GetOp::Equal, 3, &[0; 4])),
        Status::InvalidKeyNumber
    );
    assert_eq!(
        st(e.get(h, GetOp::Equal, 0, &[1, 0])),
        Status::KeyBufferTooShort
    );
    assert_eq!(
        st(e.get(h, GetOp::Equal, 0, &7u32.to_le_bytes())),
        Status::KeyValueNotFound
    );

    // Duplicates on key 1 come back in insertion order; Get Next walks from Get Equal.
    let r = e.get(h, GetOp::Equal, 1, &5i16.to_le_bytes()).unwrap();
    assert_eq!(r, person(1, 5, "ann"));
    assert_eq!(e.get(h, GetOp::Next, 1, &[]).unwrap(), person(2, 5, "bob"));
    assert_eq!(e.get(h, GetOp::Next, 1, &[]).unwrap(), person(4, 5, "dee"));
    assert_eq!(st(e.get(h, GetOp::Next, 1, &[])), Status::EndOfFile);
    assert_eq!(
        st(e.get(h, GetOp::Next, 0, &[])),
        Status::DifferentKeyNumber
    );
    assert_eq!(
        e.get(h, GetOp::Previous, 1, &[]).unwrap(),
        person(2, 5, "bob")
    );
    assert_eq!(
        e.get(h, GetOp::LessOrEqual, 1, &0i16.to_le_bytes())
            .unwrap(),
        person(3, -2, "cy")
    );

    // Update and Delete act on the current record; key 0 is not modifiable.
    e.get(h, GetOp::Equal, 2, &name_key("bob")).unwrap();
    assert_eq!(
        st(e.update(h, &person(22, 5, "bob"))),
        Status::KeyNotModifiable
    );
    assert_eq!(
        st(e.update(h, &person(2, 5, "ann"))),
        Status::DuplicateKeyValue
    );
    e.update(h, &person(2, 1, "bobby")).unwrap();
    assert_eq!(
        e.get(h, GetOp::Equal, 0, &2u32.to_le_bytes()).unwrap(),
        person(2, 1, "bobby")
    );
    e.delete(h).unwrap();
    // After a delete, Get Next continues from where the record was.
    assert_eq!(e.get(h, GetOp::Next, 0, &[]).unwrap(), person(3, -2, "cy"));

    // A record changed by another handle since this one read it: conflict.
    let h2 = e.open(&path, OpenMode::Normal).unwrap();
    e.get(h, GetOp::Equal, 0, &4u32.to_le_bytes()).unwrap();
    e.get(h2, GetOp::Equal, 0, &4u32.to_le_bytes()).unwrap();
    e.delete(h2).unwrap();
    assert_eq!(st(e.update(h, &person(4, 0, "dee"))), Status::Conflict);

    // Step operations walk physical order.
    let mut n = 0;
    let mut r = e.step(h, StepOp::First);
    while r.is_ok() {
        n += 1;
        r = e.step(h, StepOp::Next);
    }
    assert_eq!((n, st(r)), (2, Status::EndOfFile));

    // Read-only and exclusive opens.
    let ro = e.open(&path, OpenMode::ReadOnly).unwrap();
    assert_eq!(st(e.insert(ro, &person(50, 0, "ro"))), Status::AccessDenied);
    assert_eq!(
        st(e.open(&path, OpenMode::Exclusive)),
        Status::IncompatibleMode
    );

    // A second engine (another process's view) cannot open the file: 85.
    let mut other = Engine::new(
        Arc::new(StdVfs),
        Arc::new(ManualClock::new()),
        Config::default(),
    );
    assert_eq!(st(other.open(&path, OpenMode::Normal)), Status::FileInUse);
    for x in [ro, h2, h] {
        e.close(x).unwrap();
    }
    assert_eq!(st(e.close(h)), Status::FileNotOpen);
    assert_eq!(st(e.get(h, GetOp::First, 0, &[])), Status::FileNotOpen);
    let h = other.open(&path, OpenMode::Normal).unwrap();
    assert_eq!(other.stat(h).unwrap().records, 2);
}

#[test]
fn initiation_time_limit_starts_a_system_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.btr");
    let clock = ManualClock::new();
    let config = Config {
        operation_bundle_limit: 1_000_000,
        initiation_time_limit: Duration::from_millis(500),
        ..Config::default()
    };
    let mut e = Engine::new(Arc::new(StdVfs), Arc::new(clock.clone()), config);
    e.create(&path, &people_spec(4096)).unwrap();
    let h = e.open(&path, OpenMode::Normal).unwrap();
    e.insert(h, &person(1, 0, "a")).unwrap();
    e.background_step().unwrap();
    assert!(e.has_pending(), "committed before the time limit");
    assert_eq!(e.commit_counters(&path).durable, 0);
    clock.advance(Duration::from_millis(499));
    e.background_step().unwrap();
    assert!(e.has_pending());
    clock.advance(Duration::from_millis(1));
    e.background_step().unwrap();
    assert!(
        !e.has_pending(),
        "the time limit did not start a system transaction"
    );
    assert_eq!(e.commit_counters(&path).durable, 1);
    // Operation Bundle Limit: with a limit of 3, the third operation commits.
    drop(e);
    let config = Config {
        operation_bundle_limit: 3,
        ..Config::default()
    };
    let mut e = Engine::new(Arc::new(StdVfs), Arc::new(ManualClock::new()), config);
    let h = e.open(&path, OpenMode::Normal).unwrap();
    e.insert(h, &person(2, 0, "b")).unwrap();
    e.insert(h, &person(3, 0, "c")).unwrap();
    assert!(e.has_pending());
    e.insert(h, &person(4, 0, "d")).unwrap();
    assert!(!e.has_pending());
    let _ = h;
}
