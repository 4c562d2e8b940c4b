SET LOCAL search_path TO pg_catalog, pg_temp;  -- see db/0001_foundation.sql
-- pg_cron option: the database-only periodic jobs (guard, rollups, cleanups, partition
-- maintenance) scheduled inside Postgres, as Supabase offers with pg_cron. The Slack jobs
-- (daily_health, rollout_report) and the guard's Slack alert stay in `pgcanary scheduler`.
-- Docs: docs/schedule.md. Tests: tests/py/test_schedule_pg_cron.py (a server with pg_cron).
--
-- Installs where pg_cron is absent: cron.* is only reached through EXECUTE, so nothing here
-- depends on the extension until the call, which then answers PC090.
--
-- Error codes of this file (class PC, see docs/errors.md):
--   PC090 pg_cron is not installed

-- The jobs, one place. pg_cron reads schedules in GMT (cron.timezone): 06:10 UTC is the
-- 03:10 America/Sao_Paulo of python_glue/pgcanary/schedule.toml.
CREATE OR REPLACE FUNCTION pgcanary_private.pg_cron_jobs()
RETURNS TABLE (jobname text, schedule text, command text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    VALUES ('pgcanary_guard',               '* * * * *',    'SELECT public.guard_tick()'),
           ('pgcanary_health_rollup',       '* * * * *',    'SELECT public.refresh_health_rollup()'),
           ('pgcanary_event_rollup',        '*/5 * * * *',  'SELECT public.refresh_event_rollup()'),
           ('pgcanary_event_partitions',    '10 6 * * *',   'SELECT public.maintain_event_partitions()'),
           ('pgcanary_rate_limit_cleanup',  '*/10 * * * *', 'SELECT public.cleanup_rate_limits()'),
           ('pgcanary_outbox_lease_reaper', '* * * * *',    'SELECT public.outbox_expire_leases()')
$$;

-- Returns the schema of pg_cron's objects. pg_cron always creates them in schema cron (its
-- extnamespace is where CREATE EXTENSION ran, public on most installs); returning the name
-- keeps the EXECUTE strings below built rather than constant, so they are checked only
-- where pg_cron exists.
CREATE OR REPLACE FUNCTION pgcanary_private.require_pg_cron()
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension AS e WHERE e.extname = 'pg_cron')
       OR pg_catalog.to_regnamespace('cron') IS NULL THEN
        RAISE EXCEPTION 'pg_cron is not installed in this database'
            USING ERRCODE = 'PC090',
                  DETAIL = 'pgcanary_schedule_jobs() schedules its jobs with cron.schedule().',
                  HINT = 'On Supabase enable pg_cron (Database > Extensions); elsewhere set shared_preload_libraries = ''pg_cron'', restart, and CREATE EXTENSION pg_cron. Or run `pgcanary scheduler` instead.';
    END IF;
    RETURN 'cron';
END
$$;

-- cron.schedule(name, ...) replaces a job of the same name and user: calling again updates.
CREATE OR REPLACE FUNCTION public.pgcanary_schedule_jobs()
RETURNS TABLE (jobname text, schedule text, command text)
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cron text := pgcanary_private.require_pg_cron();
    j    record;
BEGIN
    FOR j IN SELECT * FROM pgcanary_private.pg_cron_jobs() LOOP
        EXECUTE format('SELECT %I.schedule($1, $2, $3)', cron) USING j.jobname, j.schedule, j.command;
        jobname := j.jobname; schedule := j.schedule; command := j.command;
        RETURN NEXT;
    END LOOP;
END
$$;
COMMENT ON FUNCTION public.pgcanary_schedule_jobs() IS
    'Schedules pgcanary''s database-only jobs with pg_cron (guard, rollups, cleanups, partitions); idempotent. Undo with pgcanary_unschedule_jobs(). PC090 without pg_cron.';

CREATE OR REPLACE FUNCTION public.pgcanary_unschedule_jobs()
RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    cron    text := pgcanary_private.require_pg_cron();
    removed integer := 0;
    name    text;
BEGIN
    FOR name IN EXECUTE format('SELECT c.jobname FROM %I.job AS c WHERE c.jobname = ANY ($1) AND c.username = current_user', cron)
                USING ARRAY(SELECT p.jobname FROM pgcanary_private.pg_cron_jobs() AS p) LOOP
        EXECUTE format('SELECT %I.unschedule($1)', cron) USING name;
        removed := removed + 1;
    END LOOP;
    RETURN removed;
END
$$;
COMMENT ON FUNCTION public.pgcanary_unschedule_jobs() IS
    'Removes the pg_cron jobs pgcanary_schedule_jobs() made (only those names); returns how many. PC090 without pg_cron.';

-- Like every public function, executable by service_role only. Both are SECURITY INVOKER:
-- the jobs belong to the caller, and pg_cron's own grants decide who may schedule (on
-- Supabase: postgres, from the SQL Editor).
SELECT pgcanary_private.expose_rpc(ARRAY[
    'public.pgcanary_schedule_jobs()', 'public.pgcanary_unschedule_jobs()'
]::regprocedure[]);
