with

source as (

    select * from {{ source('fakestore', 'products') }}

),

newest as (

    {{ newest_version('source', 'id') }}

),

renamed as (

    select
        cast(id as bigint) as product_id,
        trim(title) as product_title,
        trim(category) as category,
        cast(price as decimal(12, 2)) as price,
        cast(rating__rate as double) as rating_rate,
        cast(rating__count as bigint) as rating_count,
        _dlt_load_id as load_id

    from newest

)

select * from renamed
