-- int_customer_categories: what each customer buys.
--
-- reads: stg_order_lines.
--
-- grain: one row per customer and product category (lower case) with a
-- purchase line that names its category, before the end of the cutoff day.
-- Materialized: the category group reads it three times.

with lines as (

    select * from stg_order_lines where is_purchase and category is not null

),

final as (

    select customer_id, category, count(*) as lines
    from lines
    group by customer_id, category

)

select * from final
