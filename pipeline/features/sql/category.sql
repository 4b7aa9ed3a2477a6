-- category: how widely a customer shops across product categories, measured
-- on purchase lines: the number of distinct categories, the share of lines in
-- the top category, and the Shannon entropy (natural log) of the category
-- shares: 0 for a one-category customer, ln(k) for one spreading evenly over k.
--
-- grain: one row per customer with a purchase line that names its category.

with lines as (

    select * from stg_order_lines where is_purchase and category is not null

),

by_category as (

    select customer_id, lower(category) as category, count(*) as lines
    from lines
    group by customer_id, lower(category)

),

totals as (

    select customer_id, sum(lines) as lines, count(*) as categories
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
        max(b.lines) / cast(t.lines as double) as top_category_share,
        -- rounded to 1e-9: a sum of doubles depends on the order the rows
        -- arrive in, in its last bits, and reruns must give identical values
        round(0.0 - sum((b.lines / cast(t.lines as double)) * ln(b.lines / cast(t.lines as double))), 9) as category_entropy
    from by_category as b
    inner join totals as t on t.customer_id = b.customer_id
    inner join top as tp on tp.customer_id = b.customer_id
    group by t.customer_id, t.categories, t.lines, tp.top_category

)

select * from final
