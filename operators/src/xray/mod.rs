pub mod threats;
