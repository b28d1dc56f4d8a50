with

users as (

    select * from {{ ref('stg_fakestore__users') }}

),

carts as (

    select * from {{ ref('stg_fakestore__carts') }}

),

cart_items as (

    select * from {{ ref('int_cart_items_joined_to_products') }}

),

all_users as (

    -- A user found only in carts still gets a row.
    select user_id from users
    union
    select user_id from carts

),

counted_items as (

    select * from cart_items
    where quantity > 0

),

cart_activity as (

    select
        user_id,
        max(cart_date) as latest_cart_date,
        count(distinct cart_id) as cart_count,
        sum(quantity) as total_quantity

    from counted_items
    group by user_id

),

category_totals as (

    select
        user_id,
        category,
        sum(quantity) as category_quantity

    -- Unknown products, and known ones without a category, have no category.
    from counted_items
    where category is not null
    group by user_id, category

),

ranked_categories as (

    select
        *,
        row_number() over (
            partition by user_id
            order by category_quantity desc, category asc
        ) as category_rank

    from category_totals

),

top_categories as (

    select
        user_id,
        category as top_category,
        category_quantity as top_category_quantity

    from ranked_categories
    where category_rank = 1

),

final as (

    select
        cast(all_users.user_id as bigint) as user_id,
        cast(cart_activity.latest_cart_date as date) as latest_cart_date,
        cast(top_categories.top_category as {{ dbt.type_string() }})
            as top_category,
        cast(top_categories.top_category_quantity as bigint)
            as top_category_quantity,
        cast(coalesce(cart_activity.cart_count, 0) as bigint) as cart_count,
        cast(coalesce(cart_activity.total_quantity, 0) as bigint)
            as total_quantity

    from all_users
    left join cart_activity
        on all_users.user_id = cart_activity.user_id
    left join top_categories
        on all_users.user_id = top_categories.user_id

)

select * from final
