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
    let mut n = 1;
    let mut last = e.get(h, GetOp::First, 0, &[]).unwrap();
    while let Ok(r) = e.get(h, GetOp::Next, 0, &[]) {
        assert!(
            r[0..4] > last[0..4]
                || u32::from_le_bytes(r[0..4].try_into().unwrap())
                    > u32::from_le_bytes(last[0..4].try_into().unwrap())
        );
        last = r;
        n += 1;
    }
    assert_eq!(n, 2000);
    for i in (0..2000u32).step_by(3) {
        e.get(h, GetOp::Equal, 0, &i.to_le_bytes()).unwrap();
        e.delete(h).unwrap();
    }
    e.close(h).unwrap();
    let rep = engine::file::check::check_file(&engine::vfs::StdVfs, &path).unwrap();
    assert!(rep.is_clean(), "{:?}", rep.problems);
    assert_eq!(rep.records, 2000 - 667);
    let _ = Status::Success;
}
