with

carts as (

    select * from {{ ref('stg_fakestore__carts') }}

),

cart_items as (

    select * from {{ ref('stg_fakestore__cart_items') }}

),

products as (

    select * from {{ ref('stg_fakestore__products') }}

),

current_items as (

    -- Only the lines of each cart's newest version: an edited cart counts
    -- once, in its new form, even when it lost lines.
    select
        cart_items.cart_id,
        cart_items.line_number,
        carts.user_id,
        carts.carted_at,
        carts.cart_date,
        cart_items.product_id,
        cart_items.quantity

    from cart_items
    inner join carts
        on
            cart_items.cart_id = carts.cart_id
            and cart_items.load_id = carts.load_id

),

joined as (

    select
        current_items.*,
        products.category,
        products.product_id is not null as is_known_product

    from current_items
    left join products
        on current_items.product_id = products.product_id

)

select * from joined
