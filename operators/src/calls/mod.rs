//! 102 emergency calls (issue 6): what kind of incident a call likely is and how urgent
//! (triage: keyword lexicons plus multilingual sentence embeddings), where it is and which
//! cameras see that place (and what they raised), and which patrol units are nearest.

pub mod embed;
pub mod fleet;
pub mod place;
pub mod triage;
