//! Operating the service: the audit log (and later backup, restore, janitor, metrics).

pub mod audit;
