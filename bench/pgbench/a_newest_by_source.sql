-- (a) newest 20 of one source: the statement jobintel sends for
-- `jobPostings(first: 20, filter: {sources: [SEEK]})` (captured with log_statement = all).
SELECT p.id, p.title, p.company, p.city, p.country, p.work_type, p.work_arrangement, p.salary_text, p.salary_min, p.salary_max, p.salary_currency, p.salary_period, p.salary_annual_min, p.salary_annual_max, p.salary_source, p.posted_at, COALESCE(p.posted_at, TIMESTAMPTZ '0001-01-01 00:00:00+00') AS sort_key FROM job_postings p WHERE 1 = 1 AND p.source IN ('seek') ORDER BY sort_key DESC, p.id DESC LIMIT 21;
