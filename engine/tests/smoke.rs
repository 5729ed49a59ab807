mod common;
use common::*;
use engine::{GetOp, OpenMode, Status};

#[test]
fn insert_get_reopen() {
    let (mut e, dir) = std_engine();
    let path = dir.path().join("p.btr");
    e.create(&path, &people_spec(4096)).unwrap();
    let h = e.open(&path, OpenMode::Normal).unwrap();
    for i in 0..2000u32 {
        e.insert(h, &person(i, (i % 7) as i16 - 3, &format!("n{i}")))
            .unwrap();
    }
    let r = e.get(h, GetOp::Equal, 0, &77u32.to_le_bytes()).unwrap();
    assert_eq!(r, person(77, (77 % 7) as i16 - 3, "n77"));
    e.close(h).unwrap();
    let h = e.open(&path, OpenMode::Normal).unwrap();
    assert_eq!(e.stat(h).unwrap().records, 2000);
    // Key 0 is an unsigned 4-byte id: walking it must give ids 0..2000 in numeric
    // order (not byte order: the id is little-endian), each exactly once.
    let id = |r: &[u8]| u32::from_le_bytes(r[0..4].try_into().unwrap());
    let mut ids = vec![id(&e.get(h, GetOp::First, 0, &[]).unwrap())];
    loop {
        match e.get(h, GetOp::Next, 0, &[]) {
            Ok(r) => ids.push(id(&r)),
            Err(err) => {
                assert_eq!(err.status, Status::EndOfFile, "{err}");
                break;
            }
        }
    }
    assert_eq!(ids, (0..2000).collect::<Vec<u32>>());
    for i in (0..2000u32).step_by(3) {
        e.get(h, GetOp::Equal, 0, &i.to_le_bytes()).unwrap();
        e.delete(h).unwrap();
    }
    e.close(h).unwrap();
    let rep = engine::file::check::check_file(&engine::vfs::StdVfs, &path).unwrap();
    assert!(rep.is_clean(), "{:?}", rep.problems);
    assert_eq!(rep.records, 2000 - 667);
}
