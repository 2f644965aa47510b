-- Who delivers each webhook's alerts: one daemon at a time, until its lease expires
-- (by the database's clock). A daemon renews its leases well before they expire; a
-- lease left to expire (its daemon died or lost the database) is taken by another.
create table delivery_leases (
    webhook text primary key,
    holder text not null,
    expires_at timestamptz not null
);
