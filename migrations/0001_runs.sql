CREATE TABLE `events` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`run_id` integer NOT NULL,
	`host_result_id` integer,
	`type` text NOT NULL,
	`data` text NOT NULL,
	`at` integer NOT NULL,
	FOREIGN KEY (`run_id`) REFERENCES `runs`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `events_run_id` ON `events` (`run_id`,`id`);--> statement-breakpoint
CREATE TABLE `host_patches` (
	`host_id` integer NOT NULL,
	`bundle_id` text NOT NULL,
	`serial` integer NOT NULL,
	`patch` text NOT NULL,
	`run_id` integer,
	`applied_at` integer NOT NULL,
	PRIMARY KEY(`host_id`, `patch`),
	FOREIGN KEY (`host_id`) REFERENCES `hosts`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`run_id`) REFERENCES `runs`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE TABLE `host_results` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`run_id` integer NOT NULL,
	`inventory_name` text NOT NULL,
	`aliases` text DEFAULT '[]' NOT NULL,
	`host_id` integer,
	`state` text NOT NULL,
	`reason` text,
	`op_id` text,
	`started_at` integer,
	`finished_at` integer,
	FOREIGN KEY (`run_id`) REFERENCES `runs`(`id`) ON UPDATE no action ON DELETE cascade,
	FOREIGN KEY (`host_id`) REFERENCES `hosts`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `host_results_run_id` ON `host_results` (`run_id`);--> statement-breakpoint
CREATE TABLE `runs` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`kind` text NOT NULL,
	`state` text NOT NULL,
	`bundle_id` text NOT NULL,
	`bundle_serial` integer NOT NULL,
	`bundle_sha256` text NOT NULL,
	`bundle_title` text NOT NULL,
	`target` text NOT NULL,
	`inventory_hash` text NOT NULL,
	`strategy` text NOT NULL,
	`started_by` text NOT NULL,
	`owner` text,
	`owner_pid` integer,
	`heartbeat_at` integer,
	`created_at` integer NOT NULL,
	`finished_at` integer
);
--> statement-breakpoint
CREATE TABLE `steps` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`host_result_id` integer NOT NULL,
	`name` text NOT NULL,
	`status` text NOT NULL,
	`detail` text,
	`output` text,
	`started_at` integer NOT NULL,
	`finished_at` integer,
	FOREIGN KEY (`host_result_id`) REFERENCES `host_results`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `steps_host_result_id` ON `steps` (`host_result_id`);