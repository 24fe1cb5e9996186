-- The security log (安全日志), from security_event entries: logins and
-- their refusals, accounts, tokens and roles changed, permissions refused,
-- with the actor from the entry's signed bytes. An ancestor holds its whole
-- subtree's log, replicated like payments. (0006 is the accounts' tables.)
CREATE TABLE security_log (
    origin TEXT NOT NULL,
    seq BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    event TEXT NOT NULL,
    actor_login TEXT NOT NULL,
    actor_name TEXT NOT NULL,
    actor_role TEXT NOT NULL,
    actor_addr TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL,
    PRIMARY KEY (origin, seq)
);
-- The pages' order and their date filters.
CREATE INDEX security_log_time ON security_log (at_ms, origin, seq);
-- "What did this login do", as actor or as subject.
CREATE INDEX security_log_actor ON security_log (actor_login);
CREATE INDEX security_log_subject ON security_log (subject);
