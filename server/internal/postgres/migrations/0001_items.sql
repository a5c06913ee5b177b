-- The items table. The primary key's btree is the index the page query uses: ORDER BY id
-- LIMIT n OFFSET m is an index scan that stops after m+n entries, no sort.
CREATE TABLE IF NOT EXISTS items (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 200),
    description text        NOT NULL DEFAULT '' CHECK (char_length(description) <= 2000),
    created_at  timestamptz NOT NULL DEFAULT now()
);
