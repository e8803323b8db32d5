-- 0002: the category vocabulary, the same list as src/category.c (a test
-- compares them). Append only: a position is a bit in the service's index.
CREATE FUNCTION proximity_categories() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT ARRAY['restaurant','cafe','bar','bakery','fast_food','pizza','sushi','grocery','supermarket','pharmacy','hospital','clinic','dentist','gym','spa','salon','barber','hotel','hostel','bank','atm','gas_station','ev_charging','parking','car_repair','car_wash','bookstore','clothing','shoes','electronics','hardware','furniture','florist','pet_store','veterinarian','laundry','post_office','library','museum','theater','cinema','park','nightclub','ice_cream','brewery','coworking','school','lawyer']::text[]
$$;

ALTER TABLE businesses ADD CONSTRAINT businesses_categories_known
    CHECK (categories <@ proximity_categories());
