//! The emulated org over real HTTP: logging in, records and PushTopics, streaming with tokens.

mod events;
mod faults;
mod login;
mod overview;
mod records;
mod support;
