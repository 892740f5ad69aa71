//! Push notifications to devices that have no live socket: FCM HTTP v1 today.

pub mod fcm;
pub mod worker;
