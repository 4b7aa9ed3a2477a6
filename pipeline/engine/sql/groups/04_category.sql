-- category: how widely a customer shops across product categories, measured
-- on purchase lines: the number of distinct categories, the share of lines in
-- the top category, and the Shannon entropy (natural log) of the category
-- shares: 0 for a one-category customer, ln(k) for one spreading evenly over k.
--
-- reads: int_customer_categories.
--
-- grain: one row per customer with a purchase line that names its category.

with by_category as (

    -- one row per customer and category: purchase lines (int_customer_categories)
    select * from int_customer_categories

),

totals as (

    -- Entropy in one pass: with N lines over categories of n_k lines,
    -- -sum (n_k / N) ln(n_k / N) = ln N - sum(n_k ln n_k) / N.
    select
        customer_id,
        count(*) as categories,
        sum(lines) as lines,
        max(lines) as top_lines,
        sum(lines * ln(cast(lines as double))) as lines_ln_lines
    from by_category
    group by customer_id

),

top as (

    select customer_id, category as top_category
    from (
        select
            customer_id,
            category,
            row_number() over (partition by customer_id order by lines desc, category) as rank
        from by_category
    )
    where rank = 1

),

final as (

    select
        t.customer_id,
        t.categories as categories_bought,
        tp.top_category,
        t.top_lines / cast(t.lines as double) as top_category_share,
        -- rounded to 1e-9: a sum of doubles depends on the order the rows
        -- arrive in, in its last bits, and reruns must give identical values
        round(ln(cast(t.lines as double)) - t.lines_ln_lines / t.lines, 9) as category_entropy
    from totals as t
    inner join top as tp on tp.customer_id = t.customer_id

)

select * from final
