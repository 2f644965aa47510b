-- Everything the sled store holds. Records are the JSON the sled store writes, as text,
-- beside the columns that queries select on.

-- serial, bot_token, directory, routing, audit_head
create table meta (
    key text primary key,
    value text not null
);

create table webhooks (
    id text primary key,
    record text not null
);

-- The hash-chained audit log, by serial.
create table audit (
    serial bigint primary key,
    entry text not null
);

-- The outbox: every accepted alert until it is pruned. `queued`: in its webhook's FIFO
-- (by seq); `dead`: a dead letter.
create sequence alert_seq;
create table alerts (
    seq bigint primary key,
    webhook text not null,
    status text not null,
    created_at bigint not null,
    queued boolean not null,
    dead boolean not null,
    record text not null
);
create index alerts_queue on alerts (webhook, seq) where queued;
create index alerts_dead on alerts (seq) where dead;

-- De-duplication keys, per webhook.
create table dedup (
    webhook text not null,
    key text not null,
    seq bigint not null,
    at_ms bigint not null,
    primary key (webhook, key)
);

create table health (
    webhook text primary key,
    record text not null
);
