-- (d) `jobPostings(filter: {sources: [SEEK]}) { totalCount }`.
SELECT COUNT(*) AS n FROM job_postings p WHERE 1 = 1 AND p.source IN ('seek');
