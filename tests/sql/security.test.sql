-- Catalog-wide security invariants (DESIGN.md §4, 1 and 2). They cover every function,
-- table, view and sequence of ours, now and in later capabilities: "ours" is everything in
-- public, pgcanary_private and pgcanary_migrations that is not an extension member.
begin;
select plan(10);

create temp view our_functions as
select p.oid, p.oid::regprocedure::text as name, n.nspname, p.prosecdef, p.proconfig, p.prokind
from pg_proc p join pg_namespace n on n.oid = p.pronamespace
where n.nspname in ('public', 'pgcanary_private', 'pgcanary_migrations')
  and not exists (select 1 from pg_depend d where d.classid = 'pg_proc'::regclass
                  and d.objid = p.oid and d.deptype = 'e');
create temp view our_relations as
select c.oid, c.oid::regclass::text as name, c.relkind, c.relrowsecurity
from pg_class c join pg_namespace n on n.oid = c.relnamespace
where n.nspname in ('public', 'pgcanary_private', 'pgcanary_migrations') and c.relkind in ('r', 'p', 'v', 'm', 'S')
  and not exists (select 1 from pg_depend d where d.classid = 'pg_class'::regclass
                  and d.objid = c.oid and d.deptype = 'e');
grant select on our_functions, our_relations to public;

select cmp_ok((select count(*) from our_functions), '>', 10::bigint, 'the catalog queries see our functions');

select is(array(select name from our_functions
                where not exists (select 1 from unnest(coalesce(proconfig, '{}')) c where c like 'search_path=%')
                order by 1),
          '{}'::text[], 'every function has a fixed search_path');

select is(array(select name from our_relations where relkind in ('r', 'p') and not relrowsecurity order by 1),
          '{}'::text[], 'every table has row level security enabled');

select is(array(select r.name || ' to ' || g from our_relations r, unnest(array['anon', 'authenticated', 'public']) g
                where (g = 'public' and exists (select 1 from aclexplode(coalesce((select relacl from pg_class where oid = r.oid), acldefault((case r.relkind when 'S' then 's' else 'r' end)::"char", (select relowner from pg_class where oid = r.oid)))) a where a.grantee = 0))
                   or (g <> 'public' and (has_table_privilege(g, r.oid, 'SELECT,INSERT,UPDATE,DELETE,TRUNCATE,REFERENCES,TRIGGER')
                                          or (r.relkind = 'S' and has_sequence_privilege(g, r.oid, 'USAGE,SELECT,UPDATE'))))
                order by 1),
          '{}'::text[], 'anon, authenticated and PUBLIC hold no privilege on our tables, views or sequences');

select is(array(select f.name || ' to ' || g from our_functions f, unnest(array['anon', 'authenticated']) g
                where has_function_privilege(g, f.oid, 'EXECUTE') order by 1),
          '{}'::text[], 'anon and authenticated cannot execute any of our functions');

select is(array(select f.name from our_functions f
                where exists (select 1 from aclexplode(coalesce((select proacl from pg_proc where oid = f.oid),
                                                               acldefault('f'::"char", (select proowner from pg_proc where oid = f.oid)))) a
                              where a.grantee = 0)
                order by 1),
          '{}'::text[], 'PUBLIC holds no EXECUTE on our functions (the default grant is revoked)');

select is(array(select name from our_functions where prosecdef
                and (has_function_privilege('anon', oid, 'EXECUTE') or has_function_privilege('authenticated', oid, 'EXECUTE'))),
          '{}'::text[], 'no SECURITY DEFINER function is executable by anon or authenticated');

select is(array(select name from our_functions where nspname = 'public' and prokind = 'f'
                and not has_function_privilege('service_role', oid, 'EXECUTE') order by 1),
          '{}'::text[], 'service_role can call every public RPC');

-- The seed's two verification queries (002, Security Hardening), verbatim.
select is((SELECT COUNT(*) FROM information_schema.table_privileges
           WHERE grantee = 'anon' AND table_schema = 'public'), 0::bigint,
          'seed check: tables with a grant to anon = 0');
select is((SELECT COUNT(*) FROM pg_proc p
           JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = 'public'
             AND p.prosecdef = true
             AND has_function_privilege('anon', p.oid, 'EXECUTE')), 0::bigint,
          'seed check: exposed SECURITY DEFINER functions = 0');

select * from finish();
rollback;
