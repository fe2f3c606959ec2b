/**
 * The catalog queries behind a schema snapshot, one per kind of object. They
 * print every definition with PostgreSQL's own `pg_get_*def` functions, the
 * text `pg_dump` is built from, and they run unchanged on PostgreSQL 14+ and
 * on PGlite, so both engines describe a schema the same way.
 *
 * System schemas and objects that belong to an extension are left out: they
 * come with the server or with `CREATE EXTENSION`, not from migrations.
 */

const USER_SCHEMA = (column: string) =>
  `${column} NOT IN ('pg_catalog', 'information_schema') AND ${column} NOT LIKE 'pg\\_%'`;

const NOT_EXTENSION_MEMBER = (catalog: string, oid: string) =>
  `NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = '${catalog}'::regclass ` +
  `AND d.objid = ${oid} AND d.deptype = 'e')`;

export const SCHEMAS_SQL = `
SELECT n.nspname AS name, obj_description(n.oid, 'pg_namespace') AS comment
FROM pg_namespace n
WHERE ${USER_SCHEMA("n.nspname")} AND ${NOT_EXTENSION_MEMBER("pg_namespace", "n.oid")}`;

export const EXTENSIONS_SQL = `
SELECT e.extname AS name, n.nspname AS schema, obj_description(e.oid, 'pg_extension') AS comment
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace`;

export const RELATIONS_SQL = `
SELECT n.nspname AS schema, c.relname AS name, c.relkind AS kind,
       c.relpersistence AS persistence, c.relrowsecurity AS rls, c.relforcerowsecurity AS force_rls,
       CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid, true) END AS view,
       CASE WHEN c.relispartition THEN pg_get_expr(c.relpartbound, c.oid) END AS bound,
       CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END AS partition_key,
       (SELECT string_agg(quote_ident(pn.nspname) || '.' || quote_ident(p.relname), ', '
                          ORDER BY i.inhseqno)
          FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
          JOIN pg_namespace pn ON pn.oid = p.relnamespace
         WHERE i.inhrelid = c.oid) AS parents,
       CASE WHEN c.relkind = 'S' THEN (
         SELECT format('%s START %s INCREMENT %s MINVALUE %s MAXVALUE %s CACHE %s%s',
                       format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin,
                       s.seqmax, s.seqcache, CASE WHEN s.seqcycle THEN ' CYCLE' ELSE '' END)
           FROM pg_sequence s WHERE s.seqrelid = c.oid) END AS sequence,
       owner.schema AS owner_schema, owner.table AS owner_table, owner.column AS owner_column,
       EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                 AND d.objid = c.oid AND d.deptype = 'i' AND c.relkind = 'S') AS identity_sequence,
       obj_description(c.oid, 'pg_class') AS comment
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN LATERAL (
  SELECT tn.nspname AS schema, t.relname AS table, a.attname AS column
    FROM pg_depend d JOIN pg_class t ON t.oid = d.refobjid
    JOIN pg_namespace tn ON tn.oid = t.relnamespace
    JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
   WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'a'
     AND c.relkind = 'S' LIMIT 1) owner ON true
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND ${USER_SCHEMA("n.nspname")}
  AND ${NOT_EXTENSION_MEMBER("pg_class", "c.oid")}`;

export const COLUMNS_SQL = `
SELECT n.nspname AS schema, c.relname AS table, a.attname AS name, a.attnum AS position,
       format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
       pg_get_expr(d.adbin, d.adrelid) AS "default", a.attidentity AS identity,
       a.attgenerated AS generated,
       CASE WHEN a.attcollation <> t.typcollation THEN
         (SELECT quote_ident(cn.nspname) || '.' || quote_ident(co.collname)
            FROM pg_collation co JOIN pg_namespace cn ON cn.oid = co.collnamespace
           WHERE co.oid = a.attcollation) END AS collation,
       col_description(c.oid, a.attnum) AS comment
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'f')
  AND ${USER_SCHEMA("n.nspname")} AND ${NOT_EXTENSION_MEMBER("pg_class", "c.oid")}`;

/** NOT NULL is a column property here: PostgreSQL 18 also keeps it as a constraint (`n`). */
export const CONSTRAINTS_SQL = `
SELECT n.nspname AS schema, c.relname AS table, con.conname AS name, con.contype AS type,
       pg_get_constraintdef(con.oid, true) AS definition, NOT con.conislocal AS inherited,
       obj_description(con.oid, 'pg_constraint') AS comment
FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE con.contype IN ('c', 'f', 'p', 'u', 'x', 't') AND ${USER_SCHEMA("n.nspname")}
  AND ${NOT_EXTENSION_MEMBER("pg_class", "c.oid")}`;

/** Indexes that stand alone; those behind a primary key, unique or exclusion constraint come with it. */
export const INDEXES_SQL = `
SELECT n.nspname AS schema, ic.relname AS name, t.relname AS table,
       pg_get_indexdef(i.indexrelid) AS definition, i.indisvalid AS valid,
       EXISTS (SELECT 1 FROM pg_inherits h WHERE h.inhrelid = i.indexrelid) AS inherited,
       obj_description(ic.oid, 'pg_class') AS comment
FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = ic.relnamespace
WHERE ${USER_SCHEMA("n.nspname")} AND ${NOT_EXTENSION_MEMBER("pg_class", "t.oid")}
  AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid
                    AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x'))`;

export const FUNCTIONS_SQL = `
SELECT n.nspname AS schema, p.proname AS name, pg_get_function_identity_arguments(p.oid) AS args,
       p.prokind AS kind,
       CASE WHEN p.prokind = 'a' THEN
         (SELECT format('SFUNC %s STYPE %s FINALFUNC %s INITCOND %s COMBINEFUNC %s',
                        ag.aggtransfn, format_type(ag.aggtranstype, NULL), ag.aggfinalfn,
                        coalesce(ag.agginitval, 'NULL'), ag.aggcombinefn)
            FROM pg_aggregate ag WHERE ag.aggfnoid = p.oid)
       ELSE pg_get_functiondef(p.oid) END AS definition,
       obj_description(p.oid, 'pg_proc') AS comment
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE ${USER_SCHEMA("n.nspname")} AND ${NOT_EXTENSION_MEMBER("pg_proc", "p.oid")}`;

export const TRIGGERS_SQL = `
SELECT n.nspname AS schema, c.relname AS table, tg.tgname AS name,
       pg_get_triggerdef(tg.oid, true) AS definition, tg.tgenabled AS enabled,
       tg.tgparentid <> 0 AS inherited,
       obj_description(tg.oid, 'pg_trigger') AS comment
FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE NOT tg.tgisinternal AND ${USER_SCHEMA("n.nspname")}`;

export const TYPES_SQL = `
SELECT n.nspname AS schema, t.typname AS name, t.typtype AS kind,
       CASE t.typtype WHEN 'e' THEN
         (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
            FROM pg_enum e WHERE e.enumtypid = t.oid) END AS labels,
       CASE t.typtype WHEN 'e' THEN
         (SELECT json_agg(e.enumlabel ORDER BY e.enumsortorder)::text
            FROM pg_enum e WHERE e.enumtypid = t.oid) END AS labels_json,
       CASE t.typtype WHEN 'd' THEN format_type(t.typbasetype, t.typtypmod) END AS base,
       t.typnotnull AS not_null, t.typdefault AS "default",
       CASE t.typtype WHEN 'd' THEN
         (SELECT string_agg('CONSTRAINT ' || quote_ident(con.conname) || ' ' ||
                            pg_get_constraintdef(con.oid, true), ' ' ORDER BY con.conname)
            FROM pg_constraint con WHERE con.contypid = t.oid AND con.contype = 'c') END AS checks,
       CASE t.typtype WHEN 'c' THEN
         (SELECT string_agg(quote_ident(a.attname) || ' ' || format_type(a.atttypid, a.atttypmod),
                            ', ' ORDER BY a.attnum)
            FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0
             AND NOT a.attisdropped) END AS attributes,
       CASE t.typtype WHEN 'r' THEN
         (SELECT format_type(r.rngsubtype, NULL) FROM pg_range r WHERE r.rngtypid = t.oid)
       END AS subtype,
       obj_description(t.oid, 'pg_type') AS comment
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE t.typtype IN ('e', 'd', 'c', 'r') AND ${USER_SCHEMA("n.nspname")}
  AND (t.typtype <> 'c' OR (SELECT c.relkind FROM pg_class c WHERE c.oid = t.typrelid) = 'c')
  AND ${NOT_EXTENSION_MEMBER("pg_type", "t.oid")}`;

export const POLICIES_SQL = `
SELECT schemaname AS schema, tablename AS table, policyname AS name, permissive,
       array_to_string(roles, ', ') AS roles, cmd, qual, with_check
FROM pg_policies WHERE ${USER_SCHEMA("schemaname")}`;

/** Explicit grants (NULL means the defaults): asked for by verify only, see SnapshotOptions. */
export const PRIVILEGES_SQL = `
SELECT 'relation' AS what, n.nspname AS schema, c.relname AS name, NULL AS col, NULL AS args,
       c.relkind::text AS kind, c.relacl::text AS acl
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relacl IS NOT NULL AND ${USER_SCHEMA("n.nspname")}
UNION ALL
SELECT 'column', n.nspname, c.relname, a.attname, NULL, c.relkind::text, a.attacl::text
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE a.attacl IS NOT NULL AND a.attnum > 0 AND NOT a.attisdropped AND ${USER_SCHEMA("n.nspname")}
UNION ALL
SELECT 'function', n.nspname, p.proname, NULL, pg_get_function_identity_arguments(p.oid), NULL,
       p.proacl::text
  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE p.proacl IS NOT NULL AND ${USER_SCHEMA("n.nspname")}
UNION ALL
SELECT 'schema', n.nspname, n.nspname, NULL, NULL, NULL, n.nspacl::text
  FROM pg_namespace n WHERE n.nspacl IS NOT NULL AND ${USER_SCHEMA("n.nspname")}`;
