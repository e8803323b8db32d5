-- 0003: an empty point has no coordinates, so the range CHECK of 0001 (NULL
-- for it) let it through; refuse it outright.
--
-- Out-of-range input cannot be refused here: PostGIS folds it into range
-- (latitude 91 becomes 89, with a NOTICE) while converting to geography,
-- before any constraint or trigger sees it. proximityd validates ranges
-- before writing (tests/api/post_latitude_*); bulk loads must do the same.
ALTER TABLE businesses ADD CONSTRAINT businesses_location_not_empty
    CHECK (NOT ST_IsEmpty(location::geometry));
