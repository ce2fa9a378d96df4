-- PostgreSQL only (it bounds its GIN pending lists); FTS5 keeps no such list.
SELECT 1;
