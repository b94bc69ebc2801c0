//! The L2TPv3 control plane: reliable delivery, control connections, sessions,
//! message authentication and an endpoint that ties them together.

pub mod reliable;
pub mod seq;
