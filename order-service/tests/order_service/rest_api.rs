//! The REST API as a client of the original sees it, over real HTTP, with
//! a real inventory-service behind it, on SQLite and PostgreSQL.

mod bad_input;
mod errors;
mod orders;
mod service;
