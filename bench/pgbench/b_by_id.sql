-- (b) one posting by id: `jobPosting(id:)` with the samedb payload's fields; a random id.
\set id random(1, 100000)
SELECT p.id, p.url, p.title, p.company, p.location_raw, p.work_type, p.work_arrangement, p.salary_text, p.salary_min, p.salary_max, p.salary_currency, p.salary_period, p.salary_annual_min, p.salary_annual_max, p.salary_source, p.description_html, p.posted_at, p.first_seen_at, p.closed_at FROM job_postings p WHERE p.id = :id;
