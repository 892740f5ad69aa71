//! Fault injection (issue 19): a node's Redis or PostgreSQL behind a [`FaultProxy`], and
//! every request answered within its deadline while the path is broken.

mod proxy;
