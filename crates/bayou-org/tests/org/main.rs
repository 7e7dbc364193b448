//! The emulated org over real HTTP: logging in, records and PushTopics, streaming with tokens.

mod allocations;
mod api_versions;
mod binding;
mod cdc;
mod contended;
mod describe;
mod events;
mod faults;
mod filtered_copies;
mod generic;
mod lockout;
mod login;
mod overview;
mod paging;
mod reach;
mod records;
