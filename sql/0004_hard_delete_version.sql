-- 0004: a hard DELETE (purging tombstones, an admin's cleanup) reaches the
-- change stream with the key only, so consumers remove the id one version
-- past the newest they hold. Drawing a version here keeps that guess below
-- any version the same id can get later: a re-insert always comes out newer.
CREATE FUNCTION businesses_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM nextval('business_version_seq');
    RETURN OLD;
END $$;

CREATE TRIGGER businesses_deleted AFTER DELETE ON businesses
    FOR EACH ROW EXECUTE FUNCTION businesses_deleted();
