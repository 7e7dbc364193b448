//! Property tests: the parser never panics, whatever it is given; generated queries — rendered
//! with random keyword case, spacing, `<>`/`!=`, time-zone offsets and redundant parentheses —
//! parse to the query they were generated from, and print back to text that re-parses to it;
//! and evaluation agrees with a direct reading of generated AND/OR trees.

mod evaluation;
mod never_panics;
mod render;
mod round_trip;
mod strategies;
