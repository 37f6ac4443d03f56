-- The PostgreSQL store's tables (gateway/src/store/postgres/mod.rs), in the schema `[store]`
-- names. Keys and values are the sled store's bytes (store::value): the value encoding, with
-- its sealed protected fields and coded facts, is the same on both stores.

-- Records by key (record-type byte + record id). `live` is false for a tombstone (form 4).
CREATE TABLE records (
    key   bytea PRIMARY KEY,
    live  boolean NOT NULL,
    value bytea NOT NULL
);

-- Values (about 400 bytes: JSON body, facts, sealed protected fields) are compressed in
-- place: a tuple over 128 bytes gets its value compressed (lz4 where the server has it, the
-- default pglz otherwise), and STORAGE MAIN keeps it in the table rather than in TOAST.
ALTER TABLE records ALTER COLUMN value SET STORAGE MAIN;
ALTER TABLE records SET (toast_tuple_target = 128);
DO $$
BEGIN
    EXECUTE 'ALTER TABLE records ALTER COLUMN value SET COMPRESSION lz4';
EXCEPTION WHEN others THEN
    RAISE NOTICE 'lz4 is not available: record values are compressed with pglz';
END
$$;

-- (person_key, record key) pairs; a pair whose record names someone else since is allowed
-- (readers check).
CREATE TABLE person_index (
    person_key text COLLATE "C" NOT NULL,
    record_key bytea NOT NULL,
    PRIMARY KEY (person_key, record_key)
);

-- Batch summaries (JSON of store::BatchSummary) and each batch's shared envelope.
CREATE TABLE batches (
    batch_id bytea PRIMARY KEY,
    summary  bytea NOT NULL
);
CREATE TABLE envelopes (
    batch_id bytea PRIMARY KEY,
    shared   bytea NOT NULL
);

-- Quarantined rows (JSON written by ingest).
CREATE TABLE quarantine (
    batch_id bytea NOT NULL,
    row_no   bigint NOT NULL,
    value    bytea NOT NULL,
    PRIMARY KEY (batch_id, row_no)
);

-- Dead letters' records (JSON of store::dead_letter::DeadLetter); payloads stay in files.
CREATE TABLE dead_letters (
    end_offset bigint PRIMARY KEY,
    letter     bytea NOT NULL
);

-- Lifecycle state (snapshots), listed by prefix in byte order.
CREATE TABLE meta (
    key   text COLLATE "C" PRIMARY KEY,
    value bytea NOT NULL
);

-- The journal offset applied up to: one row, written in the same transaction as each entry.
CREATE TABLE applied (
    id         smallint PRIMARY KEY CHECK (id = 1),
    end_offset bigint NOT NULL
);
INSERT INTO applied VALUES (1, 0);

-- Rollup state, kept in the same transaction as the records, so a restart loads it instead of
-- scanning every record: each entry's rollup changes (facts with their sign, store::facts'
-- encoding) are appended to `rollup_deltas` as one row, and folded now and then into
-- `rollup_cells` (cells of store::cubes, summed over many entries, so one fold touches each
-- cell once). Cell keys are u32 dimension values stored as int4 bit patterns.
CREATE TABLE rollup_deltas (
    id     bigserial PRIMARY KEY,
    deltas bytea NOT NULL
);
-- Read once at a fold or a start: not worth compressing on every entry.
ALTER TABLE rollup_deltas ALTER COLUMN deltas SET STORAGE EXTERNAL;
CREATE TABLE rollup_cells (
    rtype smallint NOT NULL,
    cube  smallint NOT NULL,
    k1    integer NOT NULL,
    k2    integer NOT NULL,
    k3    integer NOT NULL,
    count bigint NOT NULL,
    sum   bigint NOT NULL,
    PRIMARY KEY (rtype, cube, k1, k2, k3)
);

-- Named settings: `rollup_layout`, the cube layout the cells were counted in.
CREATE TABLE settings (
    name  text PRIMARY KEY,
    value text NOT NULL
);
