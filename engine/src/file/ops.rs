//! Btrieve operation codes and the operation families the engine implements.

/// Btrieve operation codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum OpCode {
    Open = 0,
    Close = 1,
    Insert = 2,
    Update = 3,
    Delete = 4,
    GetEqual = 5,
    GetNext = 6,
    GetPrevious = 7,
    GetGreater = 8,
    GetGreaterOrEqual = 9,
    GetLess = 10,
    GetLessOrEqual = 11,
    GetFirst = 12,
    GetLast = 13,
    Create = 14,
    Stat = 15,
    BeginTransaction = 19,
    EndTransaction = 20,
    AbortTransaction = 21,
    StepNext = 24,
    StepFirst = 33,
    StepLast = 34,
    StepPrevious = 35,
}

/// The keyed reads (Get operations).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GetOp {
    Equal,
    Next,
    Previous,
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
    First,
    Last,
}

impl GetOp {
    pub const ALL: [GetOp; 9] = [
        GetOp::Equal,
        GetOp::Next,
        GetOp::Previous,
        GetOp::Greater,
        GetOp::GreaterOrEqual,
        GetOp::Less,
        GetOp::LessOrEqual,
        GetOp::First,
        GetOp::Last,
    ];

    pub fn code(self) -> OpCode {
        match self {
            GetOp::Equal => OpCode::GetEqual,
            GetOp::Next => OpCode::GetNext,
            GetOp::Previous => OpCode::GetPrevious,
            GetOp::Greater => OpCode::GetGreater,
            GetOp::GreaterOrEqual => OpCode::GetGreaterOrEqual,
            GetOp::Less => OpCode::GetLess,
            GetOp::LessOrEqual => OpCode::GetLessOrEqual,
            GetOp::First => OpCode::GetFirst,
            GetOp::Last => OpCode::GetLast,
        }
    }
}

/// Physical-order reads (Step operations).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StepOp {
    First,
    Next,
    Previous,
    Last,
}

impl StepOp {
    pub fn code(self) -> OpCode {
        match self {
            StepOp::First => OpCode::StepFirst,
            StepOp::Next => OpCode::StepNext,
            StepOp::Previous => OpCode::StepPrevious,
            StepOp::Last => OpCode::StepLast,
        }
    }
}
