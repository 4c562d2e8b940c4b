SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- Stale flags: rollout code that should be removed, and flags nobody can explain. Seed: remove
-- the rollout code two weeks after 100%. Same column set as health_security_* (check_name,
-- object_type, object_name, detail); daily_health() shows the rows (functions/health.sql).
-- Docs: docs/stale_flags.md. Tests: tests/sql/stale_flags.test.sql.
--
-- "Since when" is feature_flags.updated_at, which the before-write trigger sets on every
-- change of the row (functions/flags.sql): a flag at 100% whose row has not changed for the
-- threshold has been at 100% at least that long. The state itself is evaluate_flag's (one
-- rule, one place), read without a client.
CREATE OR REPLACE FUNCTION public.stale_flags(older_than interval DEFAULT interval '14 days')
RETURNS TABLE (check_name text, object_type text, object_name text, detail text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.check_name, 'flag'::text, s.flag_key, s.detail
    FROM (
        SELECT f.flag_key,
               CASE WHEN e ->> 'error_code' IN ('PARSE_ERROR', 'GENERAL') THEN NULL
                    WHEN e ->> 'phase' = 'full_rollout' AND (e -> 'percentage') = '100'::jsonb THEN 'flag_fully_rolled_out'
                    WHEN e ->> 'phase' = 'disabled' THEN 'flag_off_too_long' END AS check_name,
               format('unchanged since %s (%s days); %s', to_char(f.updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'),
                      extract(day FROM now() - f.updated_at)::integer,
                      CASE WHEN e ->> 'phase' = 'disabled' THEN 'off for everyone: remove the flag and its dead code'
                           ELSE 'on for everyone: remove the rollout code and the flag' END) AS detail
        FROM public.feature_flags AS f
        CROSS JOIN LATERAL public.evaluate_flag(f.flag_key, NULL) AS e
        WHERE f.updated_at < now() - coalesce(stale_flags.older_than, interval '14 days')
          -- Rollouts only: an on/off switch (true, {"enabled": true}) such as the seed's
          -- business_events_enabled master is meant to stay.
          AND jsonb_typeof(f.value) = 'object' AND f.value ?| ARRAY['percentage', 'canary_pct']
    ) AS s
    WHERE s.check_name IS NOT NULL
    UNION ALL
    -- Only where clients report (some flag reported within the window): otherwise every flag
    -- would be listed. The seed flags are read by our own SQL, which does not report.
    SELECT 'flag_not_evaluated', 'flag', f.flag_key,
           CASE WHEN e.flag_key IS NULL
                THEN format('no client evaluated it since it was created on %s: remove it, or wire it',
                            to_char(f.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'))
                ELSE format('last evaluated on %s (%s days ago): remove the flag and its code',
                            to_char(e.last_evaluated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'),
                            extract(day FROM now() - e.last_evaluated_at)::integer) END
    FROM public.feature_flags AS f
    LEFT JOIN public.flag_evaluations AS e ON e.flag_key = f.flag_key
    CROSS JOIN (SELECT now() - coalesce(stale_flags.older_than, interval '14 days') AS t) AS cutoff
    WHERE f.created_at < cutoff.t
      AND coalesce(e.last_evaluated_at, '-infinity') < cutoff.t
      AND NOT pgcanary_private.is_seed_flag(f.flag_key)
      AND EXISTS (SELECT FROM public.flag_evaluations AS r WHERE r.last_evaluated_at >= cutoff.t)
    UNION ALL
    SELECT 'flag_without_description', 'flag', f.flag_key, 'no description: say what it switches'
    FROM public.feature_flags AS f
    WHERE coalesce(btrim(f.description), '') = ''
    UNION ALL
    SELECT 'flag_without_owner', 'flag', f.flag_key, 'no owner (feature_flags.owner, db/0011): say who answers for it'
    FROM public.feature_flags AS f
    WHERE coalesce(btrim(f.owner), '') = ''
    ORDER BY 1, 3
$$;
COMMENT ON FUNCTION public.stale_flags(interval) IS
    'Flags to clean up: at 100% or off for everyone, unchanged for older_than (default 14 days, the seed''s two weeks), not evaluated by any client for older_than (where clients report), without a description or an owner. Columns as the health_security views.';

CREATE OR REPLACE VIEW public.health_stale_flags
WITH (security_invoker = true) AS
SELECT * FROM public.stale_flags();
COMMENT ON VIEW public.health_stale_flags IS
    'Should be empty: stale_flags() with the seed''s two weeks (flags fully rolled out or off for 14 days, flags without a description or an owner).';
REVOKE ALL ON public.health_stale_flags FROM PUBLIC, anon, authenticated;
GRANT SELECT ON public.health_stale_flags TO service_role;

-- The clients' report of what they evaluated (pgcanary.flags, the OpenFeature provider): at
-- most once a minute per process, so it costs the hot path nothing. Unknown keys are ignored
-- (their evaluations already answer FLAG_NOT_FOUND); a row moves at most once a minute, so
-- many processes reporting the same flag do not queue on its row.
CREATE OR REPLACE FUNCTION public.note_flag_evaluations(flag_keys text[])
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    noted integer;
BEGIN
    IF flag_keys IS NULL OR cardinality(flag_keys) > 1000 THEN
        RAISE EXCEPTION 'flag_keys must be an array of at most 1000 flag keys, got %',
                        coalesce(cardinality(flag_keys) || ' keys', 'null')
            USING ERRCODE = 'PC003', HINT = 'Report the keys evaluated since the last report, for example ARRAY[''campaigns''].';
    END IF;
    INSERT INTO public.flag_evaluations AS e (flag_key)
    SELECT DISTINCT f.flag_key FROM public.feature_flags AS f WHERE f.flag_key = ANY (flag_keys)
    ORDER BY 1  -- one lock order for concurrent reporters
    ON CONFLICT (flag_key) DO UPDATE SET last_evaluated_at = now()
        WHERE e.last_evaluated_at < now() - interval '1 minute';
    GET DIAGNOSTICS noted = ROW_COUNT;
    RETURN noted;
END
$$;
COMMENT ON FUNCTION public.note_flag_evaluations(text[]) IS
    'Records that a client evaluated these flags (for stale_flags: flag_not_evaluated). Sent by pgcanary.flags and the OpenFeature provider at most once a minute; returns how many rows moved.';

SELECT pgcanary_private.expose_rpc(ARRAY['public.stale_flags(interval)', 'public.note_flag_evaluations(text[])']::regprocedure[]);
