from django.urls import path

from chatbot.tools import views

app_name = "tools"

urlpatterns = [
    path("activity/", views.tool_activity, name="activity"),
    path("executions/<uuid:execution_id>/decide/", views.tool_decide, name="decide"),
    path("chats/<uuid:conversation_id>/", views.conversation_tools, name="conversation"),
]
