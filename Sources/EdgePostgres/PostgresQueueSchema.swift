extension PostgresQueue {
    /// The migration's name in `edge_schema_migrations`.
    static let schemaName = "edge_queue.v3"

    /// The queues' table and the functions that claim, settle and extend leases in one round trip.
    ///
    /// A row holds the messages of one send that share a delay (up to 100), in arrays kept in id
    /// order: `ids`, `bodies`, `content_types` and `trace_parents` (`''` for none). Its `visible_at`,
    /// `lease`, `attempts`, `sent_at` and `source_queue` are its messages'. A message's id is
    /// `row id * 128 + position` when sent and is kept for life: when some of a row's messages are
    /// claimed, retried, released, dead-lettered or have their lease extended, they move to a row
    /// of their own (`edge_queue_split`) with their ids. Claiming a batch of 100 is one row
    /// updated and one index entry moved, acknowledging it one row deleted.
    ///
    /// Rows are read in the order of their oldest message, `(visible_at, first_id)`; the index has
    /// no column a lookup by id could use (lookups go by the primary key or, for a lease, the
    /// partial index on `lease`), which keeps plans right when the statistics are stale.
    ///
    /// A database with the row-per-message table of `edge_queue.v2` (`edge_queue_messages`) is
    /// migrated: each message becomes a row of one, keeping its id, lease and attempts; new ids
    /// start above the old ones.
    static let schema = [
        """
        CREATE TABLE IF NOT EXISTS edge_queue_batches (
            id bigserial PRIMARY KEY,
            scope text NOT NULL,
            queue text NOT NULL,
            visible_at bigint NOT NULL,
            first_id bigint NOT NULL,
            ids bigint[] NOT NULL,
            bodies bytea[] NOT NULL,
            content_types text[] NOT NULL,
            trace_parents text[] NOT NULL,
            sent_at bigint NOT NULL,
            attempts integer NOT NULL DEFAULT 0,
            lease text,
            source_queue text
        )
        """,
        // A row of 100 small messages is ~3.5 KB: kept whole in the heap, not compressed (pglz on
        // every claim's new row version, and on every read, cost more than the space saved).
        "ALTER TABLE edge_queue_batches SET (toast_tuple_target = 8160)",
        "CREATE INDEX IF NOT EXISTS edge_queue_batches_by_visibility ON edge_queue_batches (scope, queue, visible_at, first_id)",
        "CREATE INDEX IF NOT EXISTS edge_queue_batches_by_lease ON edge_queue_batches (lease) WHERE lease IS NOT NULL",
        """
        DO $migrate$
        BEGIN
            IF to_regclass('edge_queue_messages') IS NOT NULL THEN
                ALTER TABLE edge_queue_messages ADD COLUMN IF NOT EXISTS trace_parent text;
                PERFORM setval('edge_queue_batches_id_seq',
                    GREATEST((SELECT coalesce(max(id), 0) FROM edge_queue_messages) / 128 + 1, (SELECT last_value FROM edge_queue_batches_id_seq)));
                INSERT INTO edge_queue_batches
                    (scope, queue, visible_at, first_id, ids, bodies, content_types, trace_parents, sent_at, attempts, lease, source_queue)
                SELECT scope, queue, visible_at, id, ARRAY[id], ARRAY[body], ARRAY[content_type], ARRAY[coalesce(trace_parent, '')], sent_at,
                    attempts, lease, source_queue
                FROM edge_queue_messages ORDER BY id;
                DROP TABLE edge_queue_messages;
            END IF;
        END
        $migrate$
        """,
        // Moves the messages `p_ids` of row `p_row` to a new row with the same fields and returns
        // it; when they are all the row's messages, returns the row itself. The caller holds the
        // row's lock.
        """
        CREATE OR REPLACE FUNCTION edge_queue_split(p_row bigint, p_ids bigint[]) RETURNS bigint
        LANGUAGE plpgsql AS $fn$
        DECLARE
            source edge_queue_batches%ROWTYPE;
            part integer[];
            rest integer[];
            created bigint;
        BEGIN
            SELECT * INTO source FROM edge_queue_batches b WHERE b.id = p_row;
            part := ARRAY(SELECT p FROM generate_subscripts(source.ids, 1) p WHERE source.ids[p] = ANY(p_ids) ORDER BY p);
            IF cardinality(part) = cardinality(source.ids) THEN
                RETURN p_row;
            END IF;
            rest := ARRAY(SELECT p FROM generate_subscripts(source.ids, 1) p WHERE source.ids[p] <> ALL(p_ids) ORDER BY p);
            INSERT INTO edge_queue_batches
                (scope, queue, visible_at, first_id, ids, bodies, content_types, trace_parents, sent_at, attempts, lease, source_queue)
            VALUES (source.scope, source.queue, source.visible_at, source.ids[part[1]],
                ARRAY(SELECT source.ids[p] FROM unnest(part) p), ARRAY(SELECT source.bodies[p] FROM unnest(part) p),
                ARRAY(SELECT source.content_types[p] FROM unnest(part) p), ARRAY(SELECT source.trace_parents[p] FROM unnest(part) p),
                source.sent_at, source.attempts, source.lease, source.source_queue)
            RETURNING id INTO created;
            UPDATE edge_queue_batches b SET first_id = source.ids[rest[1]],
                ids = ARRAY(SELECT source.ids[p] FROM unnest(rest) p), bodies = ARRAY(SELECT source.bodies[p] FROM unnest(rest) p),
                content_types = ARRAY(SELECT source.content_types[p] FROM unnest(rest) p),
                trace_parents = ARRAY(SELECT source.trace_parents[p] FROM unnest(rest) p)
            WHERE b.id = p_row;
            RETURN created;
        END
        $fn$
        """,
        // Applies outcomes to the messages leased under their tokens, a row at a time: kind 0
        // deletes (acknowledged, or dropped), 1 retries at `p_visible`, 2 releases (the attempt
        // does not count), 3 dead-letters to `p_targets`. An outcome whose token is no longer the
        // row's, or whose message is not in it, changes nothing; the first outcome given for a
        // message counts. Notifies `edge_queue` for each queue that gains messages.
        """
        CREATE OR REPLACE FUNCTION edge_queue_settle(
            p_scope text, p_queue text, p_ids bigint[], p_tokens text[], p_kinds integer[], p_visible bigint[], p_targets text[]
        ) RETURNS void
        LANGUAGE plpgsql AS $fn$
        DECLARE
            leased record;
            outcome record;
            moving bigint;
            -- Acknowledgements alone under one lease (a batch done: the usual case).
            acknowledged text := CASE WHEN p_kinds <@ ARRAY[0] AND p_tokens <@ ARRAY[p_tokens[1]] THEN p_tokens[1] END;
        BEGIN
            FOR leased IN
                SELECT b.id, b.ids, b.lease FROM edge_queue_batches b
                WHERE b.lease = ANY(p_tokens) AND b.scope = p_scope AND b.queue = p_queue
                ORDER BY b.id FOR UPDATE
            LOOP
                IF leased.lease = acknowledged AND leased.ids <@ p_ids THEN
                    DELETE FROM edge_queue_batches b WHERE b.id = leased.id;
                    CONTINUE;
                END IF;
                FOR outcome IN
                    SELECT o.kind, o.visible, o.target, array_agg(o.message) AS messages
                    FROM (SELECT DISTINCT ON (m.message) m.message, g.kind, g.visible, g.target
                          FROM unnest(leased.ids) AS m(message)
                          JOIN unnest(p_ids, p_tokens, p_kinds, p_visible, p_targets) WITH ORDINALITY AS g(message, token, kind, visible, target, n)
                            ON g.message = m.message AND g.token = leased.lease
                          ORDER BY m.message, g.n) o
                    GROUP BY o.kind, o.visible, o.target
                    ORDER BY min(o.message)
                LOOP
                    -- All of the row's messages (the usual case: a batch acknowledged) need no split.
                    moving := CASE WHEN cardinality(outcome.messages) = cardinality(leased.ids) THEN leased.id
                                   ELSE edge_queue_split(leased.id, outcome.messages) END;
                    IF outcome.kind = 0 THEN
                        DELETE FROM edge_queue_batches b WHERE b.id = moving;
                    ELSE
                        UPDATE edge_queue_batches b SET lease = NULL, visible_at = outcome.visible,
                            attempts = CASE outcome.kind WHEN 2 THEN b.attempts - 1 WHEN 3 THEN 0 ELSE b.attempts END,
                            source_queue = CASE outcome.kind WHEN 3 THEN COALESCE(b.source_queue, b.queue) ELSE b.source_queue END,
                            queue = CASE outcome.kind WHEN 3 THEN outcome.target ELSE b.queue END
                        WHERE b.id = moving;
                        PERFORM pg_notify('edge_queue', p_scope || '/' || CASE outcome.kind WHEN 3 THEN outcome.target ELSE p_queue END);
                    END IF;
                END LOOP;
            END LOOP;
        END
        $fn$
        """,
        // Settles (as edge_queue_settle) and then leases the `p_max` oldest visible messages of
        // the queue, by (visible_at, id), skipping rows other claims hold: rows are read in the
        // order of their oldest message until the max-th oldest found so far comes before the next
        // row's first (usually one row and a glance at the next); a row taken in part is split.
        // When every visible row is another claim's, waits for the first one.
        """
        CREATE OR REPLACE FUNCTION edge_queue_claim(
            p_scope text, p_queue text, p_now bigint, p_max integer, p_until bigint, p_token text,
            p_ids bigint[], p_tokens text[], p_kinds integer[], p_visible bigint[], p_targets text[]
        ) RETURNS TABLE (claimed_id bigint, claimed_body bytea, claimed_type text, claimed_sent_at bigint, claimed_attempts integer,
                         claimed_trace text)
        LANGUAGE plpgsql AS $fn$
        DECLARE
            candidate record;
            locked record;
            chosen record;
            taken record;
            key_visible bigint[] := '{}';
            key_id bigint[] := '{}';
            key_row bigint[] := '{}';
            key_size integer[] := '{}';
            high_visible bigint;
            high_id bigint;
            last_visible bigint;
            last_id bigint;
            part bigint;
            skipped boolean := false;
        BEGIN
            IF cardinality(p_ids) > 0 THEN
                PERFORM edge_queue_settle(p_scope, p_queue, p_ids, p_tokens, p_kinds, p_visible, p_targets);
            END IF;
            IF p_max <= 0 THEN
                RETURN;
            END IF;
            FOR pass IN 1..2 LOOP
                FOR candidate IN
                    SELECT b.id, b.visible_at, b.first_id FROM edge_queue_batches b
                    WHERE b.scope = p_scope AND b.queue = p_queue AND b.visible_at <= p_now
                    ORDER BY b.visible_at, b.first_id
                LOOP
                    IF cardinality(key_id) >= p_max THEN
                        -- Past every message found so far (the usual case): no need to sort them.
                        EXIT WHEN (candidate.visible_at, candidate.first_id) > (high_visible, high_id);
                        SELECT k.v, k.i INTO last_visible, last_id FROM unnest(key_visible, key_id) AS k(v, i) ORDER BY k.v, k.i OFFSET p_max - 1 LIMIT 1;
                        EXIT WHEN (candidate.visible_at, candidate.first_id) > (last_visible, last_id);
                    END IF;
                    IF pass = 2 AND cardinality(key_id) = 0 THEN
                        SELECT b.id, b.visible_at, b.ids INTO locked FROM edge_queue_batches b
                        WHERE b.id = candidate.id AND b.visible_at <= p_now FOR UPDATE;
                    ELSE
                        SELECT b.id, b.visible_at, b.ids INTO locked FROM edge_queue_batches b
                        WHERE b.id = candidate.id AND b.visible_at <= p_now FOR UPDATE SKIP LOCKED;
                    END IF;
                    IF NOT FOUND THEN
                        skipped := skipped OR EXISTS (SELECT 1 FROM edge_queue_batches b WHERE b.id = candidate.id AND b.visible_at <= p_now);
                        CONTINUE;
                    END IF;
                    key_visible := key_visible || array_fill(locked.visible_at, ARRAY[cardinality(locked.ids)]);
                    key_id := key_id || locked.ids;
                    key_row := key_row || array_fill(locked.id, ARRAY[cardinality(locked.ids)]);
                    key_size := key_size || array_fill(cardinality(locked.ids), ARRAY[cardinality(locked.ids)]);
                    IF high_visible IS NULL OR (locked.visible_at, locked.ids[cardinality(locked.ids)]) > (high_visible, high_id) THEN
                        high_visible := locked.visible_at;
                        high_id := locked.ids[cardinality(locked.ids)];
                    END IF;
                END LOOP;
                -- Every visible row was another claim's: wait for the first (holding no other
                -- lock) and take what that claim left, rather than answer empty while messages
                -- wait (a send of one row and several consumers).
                EXIT WHEN cardinality(key_id) > 0 OR NOT skipped;
            END LOOP;
            FOR chosen IN
                SELECT k.r, array_agg(k.i) AS messages, max(k.n) AS size
                FROM (SELECT u.r, u.i, u.n FROM unnest(key_visible, key_id, key_row, key_size) AS u(v, i, r, n) ORDER BY u.v, u.i LIMIT p_max) k
                GROUP BY k.r
            LOOP
                -- A row taken whole (the usual case) is leased in place; one taken in part is split.
                part := CASE WHEN cardinality(chosen.messages) = chosen.size THEN chosen.r ELSE edge_queue_split(chosen.r, chosen.messages) END;
                UPDATE edge_queue_batches b SET lease = p_token, visible_at = p_until, attempts = b.attempts + 1
                WHERE b.id = part
                RETURNING b.ids, b.bodies, b.content_types, b.trace_parents, b.sent_at, b.attempts INTO taken;
                RETURN QUERY SELECT m.i, m.b, m.c, taken.sent_at, taken.attempts, NULLIF(m.t, '')
                    FROM unnest(taken.ids, taken.bodies, taken.content_types, taken.trace_parents) AS m(i, b, c, t);
            END LOOP;
        END
        $fn$
        """,
        // Moves the leases of the messages `p_ids` held under `p_tokens` to `p_until` (the
        // messages, not their whole rows: the rest keep their deadline); returns the ids extended.
        """
        CREATE OR REPLACE FUNCTION edge_queue_extend(p_scope text, p_queue text, p_until bigint, p_ids bigint[], p_tokens text[])
        RETURNS SETOF bigint
        LANGUAGE plpgsql AS $fn$
        DECLARE
            leased record;
            held bigint[];
            part bigint;
        BEGIN
            FOR leased IN
                SELECT b.id, b.ids, b.lease FROM edge_queue_batches b
                WHERE b.lease = ANY(p_tokens) AND b.scope = p_scope AND b.queue = p_queue
                ORDER BY b.id FOR UPDATE
            LOOP
                held := ARRAY(SELECT m FROM unnest(leased.ids) m
                              WHERE EXISTS (SELECT 1 FROM unnest(p_ids, p_tokens) g(i, t) WHERE g.i = m AND g.t = leased.lease));
                CONTINUE WHEN cardinality(held) = 0;
                part := CASE WHEN cardinality(held) = cardinality(leased.ids) THEN leased.id ELSE edge_queue_split(leased.id, held) END;
                UPDATE edge_queue_batches b SET visible_at = p_until WHERE b.id = part;
                RETURN QUERY SELECT unnest(held);
            END LOOP;
        END
        $fn$
        """,
    ]
}
