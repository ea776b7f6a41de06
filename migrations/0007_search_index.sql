-- The session search index: what sessions typed and printed, as documents of plain lines
-- (recorder/search_text.hpp), filled by the recorder as it writes each session's chunks. A
-- document is a few KiB to 64 KiB of lines of one kind; `marks` says where each line starts in
-- `body` ("byte:offset_us:channel,..."), so that a hit gives its moment in the session. Trigram
-- GIN makes `body ILIKE '%text%'` an index lookup. pg_trgm ships with PostgreSQL and is a trusted
-- extension: the database's owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE search_documents (
  session_id uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
  seq        integer NOT NULL CHECK (seq >= 0),
  kind       text NOT NULL CHECK (kind IN ('input', 'output')),
  body       text NOT NULL,
  marks      text NOT NULL,
  PRIMARY KEY (session_id, seq)
);
CREATE INDEX search_documents_body ON search_documents USING gin (body gin_trgm_ops);
