from rest_framework.pagination import CursorPagination


class KeysetPagination(CursorPagination):
    """Keyset (cursor) pages: constant cost however deep the client pages, stable under inserts."""

    ordering = ("-created_at", "-id")
    page_size_query_param = "page_size"
    max_page_size = 500


class DeployedAtPagination(KeysetPagination):
    ordering = ("-deployed_at", "-id")
