//! A pool job and the extranonce mapping.
