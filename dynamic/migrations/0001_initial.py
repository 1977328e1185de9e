"""Model endpoints and conversations, moved here from projects and annotation."""

import django.core.validators
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


MOVED = {'modelendpoint': 'projects', 'streamendpoint': 'projects', 'conversation': 'annotation', 'conversationcandidate': 'annotation', 'turn': 'annotation', 'generation': 'annotation'}  # model -> the app it came from


def move_content_types(apps, schema_editor):
    """Permissions and admin history follow the models: their content types change app."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model, old_app in MOVED.items():
        if not ContentType.objects.filter(app_label='dynamic', model=model).exists():
            ContentType.objects.filter(app_label=old_app, model=model).update(app_label='dynamic')


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('annotation', '0010_models_move_to_their_rooms'),
        ('projects', '0004_models_move_to_their_rooms'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # The tables stay as they are (each model keeps its db_table): only Django's picture of
        # which app owns which model changes. No row is touched.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='Conversation',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('status', models.CharField(choices=[('open', 'Open'), ('ended', 'Ended')], default='open', max_length=16)),
                        ('messages', models.JSONField(default=list)),
                        ('display_order', models.JSONField(default=list)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('updated_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('ended_at', models.DateTimeField(blank=True, null=True)),
                        ('annotator', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='conversations', to=settings.AUTH_USER_MODEL)),
                        ('stream', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='conversations', to='projects.stream')),
                    ],
                    options={
                        'db_table': 'annotation_conversation',
                    },
                ),
                migrations.CreateModel(
                    name='ModelEndpoint',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(help_text='Shown to PMs only; annotators see A/B.', max_length=100)),
                        ('base_url', models.URLField(max_length=500)),
                        ('model', models.CharField(max_length=200)),
                        ('parameters', models.JSONField(blank=True, default=dict)),
                        ('system_prompt', models.TextField(blank=True)),
                        ('api_key_env', models.CharField(blank=True, help_text='Name of the environment variable.', max_length=100)),
                        ('timeout_seconds', models.PositiveSmallIntegerField(default=60)),
                        ('is_active', models.BooleanField(default=True)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('project', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='endpoints', to='projects.project')),
                    ],
                    options={
                        'db_table': 'projects_modelendpoint',
                    },
                ),
                migrations.CreateModel(
                    name='ConversationCandidate',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('position', models.PositiveSmallIntegerField()),
                        ('conversation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='candidates', to='dynamic.conversation')),
                        ('endpoint', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='dynamic.modelendpoint')),
                    ],
                    options={
                        'db_table': 'annotation_conversationcandidate',
                        'ordering': ['position'],
                    },
                ),
                migrations.CreateModel(
                    name='StreamEndpoint',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('weight', models.FloatField(default=1.0, validators=[django.core.validators.MinValueValidator(0.0)])),
                        ('endpoint', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to='dynamic.modelendpoint')),
                        ('stream', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, to='projects.stream')),
                    ],
                    options={
                        'db_table': 'projects_streamendpoint',
                    },
                ),
                migrations.AddField(
                    model_name='modelendpoint',
                    name='streams',
                    field=models.ManyToManyField(blank=True, related_name='endpoints', through='dynamic.StreamEndpoint', to='projects.stream'),
                ),
                migrations.CreateModel(
                    name='Turn',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('index', models.PositiveSmallIntegerField()),
                        ('user_message', models.TextField()),
                        ('status', models.CharField(choices=[('generating', 'Generating'), ('ready', 'Ready to judge'), ('judged', 'Judged'), ('failed', 'Failed')], default='generating', max_length=16)),
                        ('chosen_position', models.PositiveSmallIntegerField(blank=True, null=True)),
                        ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('ready_at', models.DateTimeField(blank=True, null=True)),
                        ('judged_at', models.DateTimeField(blank=True, null=True)),
                        ('conversation', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='turns', to='dynamic.conversation')),
                        ('item', models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='turn', to='annotation.item')),
                    ],
                    options={
                        'db_table': 'annotation_turn',
                        'ordering': ['index'],
                    },
                ),
                migrations.CreateModel(
                    name='Generation',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('position', models.PositiveSmallIntegerField()),
                        ('status', models.CharField(choices=[('pending', 'Pending'), ('streaming', 'Streaming'), ('done', 'Done'), ('error', 'Error')], default='pending', max_length=16)),
                        ('text', models.TextField(blank=True)),
                        ('error', models.CharField(blank=True, max_length=500)),
                        ('error_detail', models.TextField(blank=True)),
                        ('finish_reason', models.CharField(blank=True, max_length=32)),
                        ('prompt_tokens', models.PositiveIntegerField(blank=True, null=True)),
                        ('updated_at', models.DateTimeField(default=django.utils.timezone.now)),
                        ('attempts', models.PositiveSmallIntegerField(default=0)),
                        ('started_at', models.DateTimeField(blank=True, null=True)),
                        ('finished_at', models.DateTimeField(blank=True, null=True)),
                        ('latency_ms', models.PositiveIntegerField(blank=True, null=True)),
                        ('completion_tokens', models.PositiveIntegerField(blank=True, null=True)),
                        ('endpoint', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='dynamic.modelendpoint')),
                        ('turn', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='generations', to='dynamic.turn')),
                    ],
                    options={
                        'db_table': 'annotation_generation',
                        'ordering': ['position'],
                    },
                ),
                migrations.AddIndex(
                    model_name='conversation',
                    index=models.Index(fields=['annotator', 'stream', 'status'], name='conversation_annotator_open'),
                ),
                migrations.AddConstraint(
                    model_name='conversation',
                    constraint=models.UniqueConstraint(condition=models.Q(('status', 'open')), fields=('annotator', 'stream'), name='conversation_one_open'),
                ),
                migrations.AddConstraint(
                    model_name='conversation',
                    constraint=models.CheckConstraint(condition=models.Q(('status__in', ['open', 'ended'])), name='conversation_status_valid'),
                ),
                migrations.AddConstraint(
                    model_name='conversationcandidate',
                    constraint=models.UniqueConstraint(fields=('conversation', 'position'), name='conv_candidate_position_unique'),
                ),
                migrations.AddConstraint(
                    model_name='conversationcandidate',
                    constraint=models.UniqueConstraint(fields=('conversation', 'endpoint'), name='conv_candidate_endpoint_unique'),
                ),
                migrations.AddConstraint(
                    model_name='streamendpoint',
                    constraint=models.UniqueConstraint(fields=('stream', 'endpoint'), name='stream_endpoint_unique'),
                ),
                migrations.AddConstraint(
                    model_name='streamendpoint',
                    constraint=models.CheckConstraint(condition=models.Q(('weight__gte', 0)), name='stream_endpoint_weight_nonneg'),
                ),
                migrations.AddConstraint(
                    model_name='modelendpoint',
                    constraint=models.UniqueConstraint(fields=('project', 'name'), name='endpoint_name_unique_in_project'),
                ),
                migrations.AddConstraint(
                    model_name='turn',
                    constraint=models.UniqueConstraint(fields=('conversation', 'index'), name='turn_index_unique'),
                ),
                migrations.AddConstraint(
                    model_name='generation',
                    constraint=models.UniqueConstraint(fields=('turn', 'position'), name='generation_position_unique'),
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(move_content_types, migrations.RunPython.noop),
    ]
